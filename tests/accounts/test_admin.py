"""Regions, funds, insurers, books and charts in the admin: real logins, the real database, writes through services."""

import json
import re

import pytest
from django.http import HttpRequest
from django.test import Client

from accounts.models import Book, ConsortiumMember, Insurer
from accounts.services import CHARTS_DIR, fund_ensure, insurer_ensure, region_ensure


@pytest.fixture
def accountant(django_user_model):
    django_user_model.objects.create_superuser("zhangsan", password="制单-test-pass-1")
    client = Client()
    assert client.login(request=HttpRequest(), username="zhangsan", password="制单-test-pass-1")  # for django-axes
    return client


def _members_form(insurer_fields, members):
    data = {**insurer_fields, "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": "0",
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000"}
    for i, (member, share) in enumerate(members):
        data.update({f"members-{i}-member": member.pk, f"members-{i}-share_pct": share})
    return data


def test_regions_show_their_path(accountant, shandong):
    jinan = region_ensure(code="3701", name="济南市", level="city", parent=shandong)
    region_ensure(code="370102", name="历下区", level="county", parent=jinan)
    page = accountant.get("/admin/accounts/region/").content.decode()
    assert "山东省 / 济南市 / 历下区" in page and "统筹地区" in page and "层级路径" in page


def test_a_consortium_is_entered_with_its_members_shares(accountant):
    picc = insurer_ensure(code="PICC-14", name="人保财险山西分公司")
    clic = insurer_ensure(code="CLIC-14", name="国寿财险山西分公司")
    fields = {"code": "GB-14", "name": "山西大病保险共保体", "is_consortium": "on"}

    response = accountant.post("/admin/accounts/insurer/add/", _members_form(fields, [(picc, "60"), (clic, "30")]))
    assert response.status_code == 200 and "份额合计为 90" in response.content.decode()
    assert not Insurer.objects.filter(code="GB-14").exists()

    response = accountant.post("/admin/accounts/insurer/add/", _members_form(fields, [(picc, "60"), (clic, "40")]))
    assert response.status_code == 302
    consortium = Insurer.objects.get(code="GB-14")
    assert sorted(ConsortiumMember.objects.filter(consortium=consortium).values_list("share_pct", flat=True)) == [40, 60]


def test_a_book_made_in_the_admin_gets_its_chart(accountant, shandong):
    fund = fund_ensure(code="F-3701", name="济南市大病保险资金", region=shandong)
    response = accountant.post("/admin/accounts/book/add/", {"code": "FUND-3701", "name": "济南市大病保险资金账",
                                                             "fund": fund.pk, "insurer": "", "template": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    book = Book.objects.get(code="FUND-3701")
    chart = json.loads((CHARTS_DIR / "fund.json").read_text(encoding="utf-8"))["accounts"]
    assert book.kind == "fund" and book.accounts.count() == len(chart)


def test_a_book_has_one_owner(accountant, shandong):
    fund = fund_ensure(code="F-3701", name="济南市大病保险资金", region=shandong)
    insurer = insurer_ensure(code="PICC-3701", name="人保财险济南分公司")
    response = accountant.post("/admin/accounts/book/add/", {"code": "X", "name": "两个所有者", "fund": fund.pk,
                                                             "insurer": insurer.pk, "template": ""})
    assert response.status_code == 200 and "有且只有一个基金或一个商业保险机构" in response.content.decode()
    assert not Book.objects.filter(code="X").exists()


def test_a_books_page_shows_its_chart_read_only_and_links(accountant, fund_book):
    page = accountant.get(f"/admin/accounts/book/{fund_book.pk}/change/").content.decode()
    assert "5101" in page and "大病保险支出" in page
    assert 'name="accounts-0-code"' not in page and 'name="code"' not in page and 'name="name"' in page
    assert f"/admin/accounts/book/{fund_book.pk}/trial-balance/" in page
    assert f"/admin/ledger/period/?book__id__exact={fund_book.pk}" in page
    assert f"/admin/ledger/journalentry/?book__id__exact={fund_book.pk}" in page
    listing = accountant.get("/admin/accounts/book/").content.decode()
    assert f"/admin/accounts/book/{fund_book.pk}/trial-balance/" in listing and "科目余额表" in listing

    # What the browser sends back: the chart rows' hidden ids and management form, a new name, and a
    # forged code that the read-only field must ignore.
    hidden = dict(re.findall(r'<input type="hidden" name="(accounts-[^"]+)" value="([^"]*)"', page))
    assert hidden["accounts-INITIAL_FORMS"] == str(fund_book.accounts.count())
    response = accountant.post(f"/admin/accounts/book/{fund_book.pk}/change/",
                               {**hidden, "name": "山东省大病保险资金账（更名）", "code": "CHANGED"})
    assert response.status_code == 302
    fund_book.refresh_from_db()
    assert (fund_book.code, fund_book.name) == ("FUND-37", "山东省大病保险资金账（更名）")


def test_a_sub_account_needs_a_parent_of_the_same_book(accountant, fund_book, insurer_book):
    other_parent = insurer_book.accounts.filter(children__isnull=True).first()
    response = accountant.post("/admin/accounts/account/add/", {"book": fund_book.pk, "parent": other_parent.pk,
                                                                "code": other_parent.code + "01", "name": "错账套"})
    assert response.status_code == 200 and "不属于账套 FUND-37" in response.content.decode()
    assert not fund_book.accounts.filter(code=other_parent.code + "01").exists()


def test_accounts_are_listed_by_book_and_type(accountant, fund_book, insurer_book):
    page = accountant.get(f"/admin/accounts/account/?book__id__exact={fund_book.pk}&type__exact=expense")
    text = page.content.decode()
    assert "5101" in text and "大病保险支出" in text and "1001" not in text
