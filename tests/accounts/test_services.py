"""Books and their charts: a fund book under 财会〔2017〕28号, an insurer's separate book."""

from decimal import Decimal

import pytest

from accounts.models import Account, ConsortiumMember
from accounts.services import account_create, book_create, insurer_ensure
from core.errors import Refused


def _chart(book):
    return {a.code: (a.name, a.type, a.normal_side, a.parent.code if a.parent else None)
            for a in book.accounts.select_related("parent")}


def test_a_fund_book_gets_the_national_codes(fund_book):
    chart = _chart(fund_book)
    assert chart["5101"] == ("大病保险支出", "expense", "debit", None)
    assert chart["1004"] == ("支出户存款", "asset", "debit", None)
    assert chart["3001"] == ("一般基金结余", "net_assets", "credit", None)
    assert set(chart) >= {"1001", "1002", "1003", "1005", "1101", "1201", "2001", "2101",
                          "4001", "4101", "4201", "4401", "4402", "4501", "5001", "5301", "5302", "5401"}
    assert all(a.source.startswith("财会〔2017〕28号") for a in fund_book.accounts.all())


def test_an_insurer_book_gets_its_insurance_codes_and_sub_accounts(insurer_book):
    chart = _chart(insurer_book)
    assert chart["224101"] == ("应返还医保基金", "liability", "credit", "2241")
    assert {"1002", "1122", "1221", "2203", "2241", "2602", "6031", "6502", "6511", "6602"} <= set(chart)
    assert "5101" not in chart


def test_a_sub_account_per_insurer_under_5101(fund_book):
    sub = account_create(book=fund_book, parent_code="5101", code="510101", name="人保财险山东分公司")
    assert (sub.type, sub.normal_side, sub.parent.code) == ("expense", "debit", "5101")
    assert account_create(book=fund_book, parent_code="5101", code="510101", name="人保财险山东分公司") == sub
    with pytest.raises(Refused) as info:
        account_create(book=fund_book, parent_code="5101", code="520101", name="错号")
    assert info.value.problems[0]["expected"] == "digits starting with 5101"


def test_an_account_with_postings_takes_no_sub_accounts(fund_book, posted_premium):
    with pytest.raises(Refused) as info:
        account_create(book=fund_book, parent_code="5101", code="510102", name="中国人寿")
    assert info.value.problems[0]["found"] == "5101 already has postings"
    assert not Account.objects.filter(book=fund_book, code="510102").exists()


def test_a_book_has_exactly_one_owner_and_a_unique_code(fund_book, insurer_book):
    with pytest.raises(Refused):
        book_create(code="X", name="无主账套")
    with pytest.raises(Refused) as info:
        book_create(code="FUND-37", name="重复", fund=fund_book.fund)
    assert info.value.problems[0]["field"] == "code"


def test_a_consortium_is_one_insurer_with_member_shares_adding_to_100(db):
    picc = insurer_ensure(code="PICC", name="人保财险")
    life = insurer_ensure(code="CLIC", name="中国人寿")
    with pytest.raises(Refused) as info:
        insurer_ensure(code="GBT", name="共保体（错）", members=[(picc, "60"), (life, "30")])
    assert info.value.problems[0]["found"] == "90%"
    consortium = insurer_ensure(code="GBT-2", name="大病保险共保体", members=[(picc, "60"), (life, "40")])
    assert consortium.is_consortium
    assert sorted(ConsortiumMember.objects.filter(consortium=consortium).values_list("share_pct", flat=True)) == [
        Decimal("40"), Decimal("60")]
