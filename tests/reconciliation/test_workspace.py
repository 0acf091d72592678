"""The bank reconciliation workspace: suggestions (read only, the same pairs automatic matching makes), matching
and unmatching through the services, refusals that name both sums, forged ids, two people on one line, and the
pages (buttons for accountants, none for auditors; fetch fragments and plain posts).

Jincheng 2019-04, fund book 1004 支出户存款: besides the demo transfers (JC-T1 132,600,280.50, JC-HAND-1
1,000,000.00, JC-HAND-2 2,000,000.00) the fund pays 300,000.00 and 200,000.00 of hospital compensation, which
the bank pays out as one 500,000.00 line, and refunds 50,000.00 the bank has not paid yet; the bank adds
88.88 of interest and takes a 20.00 fee the book does not have.
"""

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from access.services import user_create
from audit.models import AuditEvent
from core.errors import Refused
from ledger.models import Posting
from ledger.selectors import account_balance
from ledger.services import Line, entry_post
from reconciliation.bank import (
    bank_match,
    bank_match_auto,
    bank_match_manual,
    bank_match_suggest,
    bank_reconciliation,
    bank_statement_import,
    bank_unmatch,
)
from reconciliation.models import BankLine
from reconciliation.selectors import bank_workspace
from tests.reconciliation.test_reconcile import BANK_ROWS, _statement, year  # noqa: F401 - the fixture

PASSWORD = "Ledger-对账-2026!x"

ROWS = [  # 交易日期, 摘要, 流水号, 对方户名, 支出, 收入
    ["2019-04-10", "结息", "INT0410", "工商银行", "", "88.88"],
    ["2019-04-26", "划拨大病保险费", "JC-T1", "中国人寿保险股份有限公司晋城分公司", "132600280.50", ""],
    ["2019-04-28", "划拨大病保险费", "B0428", "中国人寿保险股份有限公司晋城分公司", "1000000.00", ""],
    ["2019-04-29", "划拨大病保险费", "JC-HAND-2", "中国人寿保险股份有限公司晋城分公司", "2000000.00", ""],
    ["2019-04-30", "代发住院补偿", "X0430", "晋城市医疗保障局", "500000.00", ""],
    ["2019-04-30", "手续费", "FEE0430", "工商银行", "20.00", ""],
]


def fund_1004(cy):
    return cy.contract.fund.books.get().accounts.get(code="1004")


def pay(cy, people, day, memo, amount, side="credit"):
    maker, checker = people["fund"]
    book = cy.contract.fund.books.get()
    other = Line("5101", debit=amount) if side == "credit" else Line("5101", credit=amount)
    bank = Line("1004", credit=amount) if side == "credit" else Line("1004", debit=amount)
    entry = entry_post(book=book, date=day, memo=memo, made_by=maker, reviewed_by=checker,
                       lines=[other, bank] if side == "credit" else [bank, other])
    return entry.postings.get(account__code="1004")


def import_april(cy, tmp_path, rows, name="icbc.csv"):
    """The April statement, opening at the book's March balance and closing at opening + every line."""
    account = fund_1004(cy)
    opening = account_balance(account=account, as_of=date(2019, 3, 31)).amount
    moved = sum((D(r[5] or 0) - D(r[4] or 0) for r in rows), D(0))
    return bank_statement_import(path=_statement(tmp_path, rows, name), account=account, bank="工商银行", year=2019,
                                 month=4, opening=str(opening), closing=str(opening + moved))


@pytest.fixture
def april(year, jincheng_people, tmp_path):  # noqa: F811
    people = jincheng_people
    extra = {"p300": pay(year, people, date(2019, 4, 29), "代发住院补偿第一批", "300000.00"),
             "p200": pay(year, people, date(2019, 4, 30), "代发住院补偿第二批", "200000.00"),
             "p50": pay(year, people, date(2019, 4, 30), "退付多缴保费", "50000.00")}
    statement = import_april(year, tmp_path, ROWS)
    postings = {p.entry.memo: p for p in Posting.objects.filter(account=statement.account, entry__date__month=4)
                .select_related("entry")}
    return {"statement": statement, "people": people, "cy": year, **extra,
            "t1": next(p for m, p in postings.items() if "JC-T1" in (p.entry.idempotency_key or "") + m),
            "hand1": next(p for m, p in postings.items() if "JC-HAND-1" in m),
            "hand2": next(p for m, p in postings.items() if "JC-HAND-2" in m)}


def line(ref) -> BankLine:
    return BankLine.objects.get(reference=ref)


def shape(suggestions):
    return [(s.how, [ln.reference for ln in s.lines], sorted(p.pk for p in s.postings), s.amount.amount)
            for s in suggestions]


def test_suggestions_by_reference_by_amount_within_days_and_one_line_to_several_postings(april):
    a = april
    events = AuditEvent.objects.count()
    got = shape(bank_match_suggest(statement=a["statement"]))
    assert got == [
        ("reference", ["JC-T1"], [a["t1"].pk], D("-132600280.50")),
        ("reference", ["JC-HAND-2"], [a["hand2"].pk], D("-2000000.00")),
        ("amount", ["B0428"], [a["hand1"].pk], D("-1000000.00")),
        ("one_to_many", ["X0430"], sorted([a["p300"].pk, a["p200"].pk]), D("-500000.00")),
    ]
    # Read only: nothing matched, nothing recorded.
    assert not BankLine.objects.filter(matched__isnull=False).exists() and AuditEvent.objects.count() == events


def test_several_lines_to_one_posting_and_automatic_matching_is_the_suggestions_applied(year, tmp_path):  # noqa: F811
    account = fund_1004(year)
    statement = bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行",
                                      year=2019, month=4, opening="300000000.00", closing="164399699.50")
    suggested = shape(bank_match_suggest(statement=statement))
    assert [(how, refs, amount) for how, refs, _, amount in suggested] == [
        ("reference", ["JC-T1"], D("-132600280.50")), ("reference", ["JC-HAND-2"], D("-2000000.00")),
        ("many_to_one", ["B0428", "B0428-2"], D("-1000000.00"))]
    assert bank_match_auto(statement=statement, by="jc-limin") == 3
    made = {ln.reference: sorted(ln.matched.values_list("pk", flat=True)) for ln in statement.lines.all()}
    assert made == {refs[i]: pks for _, refs, pks, _ in suggested for i in range(len(refs))} | {"FEE0430": []}
    assert bank_match_suggest(statement=statement) == []


def test_accepting_every_suggestion_leaves_the_three_items_and_both_sides_agree(april):
    a = april
    for s in bank_match_suggest(statement=a["statement"]):
        bank_match(statement=a["statement"], lines=s.lines, postings=s.postings, by="jc-limin", how="suggested")
    r = bank_reconciliation(statement=a["statement"])
    assert [ln.reference for ln in r.bank_in_not_booked] == ["INT0410"]
    assert [ln.reference for ln in r.bank_out_not_booked] == ["FEE0430"]
    assert [p.pk for p in r.booked_out_not_in_bank] == [a["p50"].pk] and r.booked_in_not_in_bank == []
    closing = a["statement"].closing.amount
    assert r.adjusted_bank.amount == closing - D("50000.00") == r.adjusted_book.amount
    assert r.adjusted_book.amount == r.book_balance.amount + D("88.88") - D("20.00") and r.balanced
    ws = bank_workspace(statement=a["statement"])
    assert (ws.lines_in.amount, ws.lines_out.amount, ws.postings_in.amount, ws.postings_out.amount) == (
        D("88.88"), D("20.00"), D("0.00"), D("50000.00"))
    assert [len(g.lines) + len(g.postings) for g in ws.matched] == [2, 2, 2, 3]
    assert {g.by for g in ws.matched} == {"jc-limin"}
    event = AuditEvent.objects.filter(action="bank_matched").order_by("id").last()
    assert event.detail["how"] == "suggested" and event.book_code == a["statement"].account.book.code


def test_a_manual_match_whose_sums_differ_is_refused_naming_both_sums(april):
    a = april
    with pytest.raises(Refused) as info:
        bank_match(statement=a["statement"], lines=[line("X0430")], postings=[a["p300"]], by="jc-limin")
    (p,) = info.value.problems
    assert p["found"] == "bank lines -500,000.00, postings -300,000.00"
    assert not BankLine.objects.filter(matched__isnull=False).exists()
    # Both postings: one line to several postings, by hand.
    bank_match(statement=a["statement"], lines=[line("X0430")], postings=[a["p300"].pk, a["p200"].pk], by="jc-limin")
    assert sorted(line("X0430").matched.values_list("pk", flat=True)) == sorted([a["p300"].pk, a["p200"].pk])


def test_a_line_or_a_posting_is_never_matched_twice(april):
    a = april
    bank_match(statement=a["statement"], lines=[line("B0428")], postings=[a["hand1"]], by="jc-limin")
    with pytest.raises(Refused) as info:  # the same pair again (a second tab, a double submit)
        bank_match(statement=a["statement"], lines=[line("B0428")], postings=[a["hand1"]], by="jc-zhangwei")
    assert {p["expected"] for p in info.value.problems} == {
        "a line not yet matched", "a posted, unmatched posting dated 2019-03-01 to 2019-04-30"}
    with pytest.raises(Refused):  # another line of the same amount to the same posting
        bank_match(statement=a["statement"], lines=[line("JC-HAND-2")], postings=[a["hand1"], a["p50"]],
                   by="jc-zhangwei")
    assert list(a["hand1"].bank_lines.values_list("reference", flat=True)) == ["B0428"]
    assert line("B0428").matched_by == "jc-limin"


def test_unmatching_one_line_undoes_its_whole_match_and_says_who(year, tmp_path):  # noqa: F811
    statement = bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=fund_1004(year), bank="工商银行",
                                      year=2019, month=4, opening="300000000.00", closing="164399699.50")
    bank_match_auto(statement=statement)
    undone = bank_unmatch(line=line("B0428-2"), by="jc-zhangwei")
    assert [ln.reference for ln in undone] == ["B0428", "B0428-2"]
    assert not line("B0428").matched.exists() and line("B0428").matched_by == "unmatched by jc-zhangwei"
    assert bank_unmatch(line=line("B0428"), by="jc-zhangwei") == []  # already undone: nothing happens
    assert AuditEvent.objects.filter(action="bank_unmatched", actor="jc-zhangwei").count() == 2
    r = bank_reconciliation(statement=statement)
    assert [ln.reference for ln in r.bank_out_not_booked] == ["B0428", "B0428-2", "FEE0430"] and r.balanced
    # The line change form's manual match still replaces a line's postings, through the same checks.
    hand1 = Posting.objects.get(entry__memo__contains="JC-HAND-1", account=statement.account)
    with pytest.raises(Refused):
        bank_match_manual(line=line("B0428"), postings=[hand1], by="jc-limin")


def test_a_posting_of_another_account_or_book_is_refused_by_the_service(april):
    a = april
    insurer_posting = Posting.objects.filter(book=a["cy"].contract.insurer.books.get()).first()
    expense = a["p50"].entry.postings.get(account__code="5101")
    for forged in (insurer_posting, expense):
        with pytest.raises(Refused) as info:
            bank_match(statement=a["statement"], lines=[line("FEE0430")], postings=[forged], by="jc-limin")
        assert info.value.problems[0]["expected"] == f"postings on {a['statement'].account}"
    assert not BankLine.objects.filter(matched__isnull=False).exists()


# -- the pages ----------------------------------------------------------------------------------------

def urls(st):
    return {name: reverse(f"admin:reconciliation_bankstatement_workspace{suffix}", args=[st.pk]) for name, suffix in
            (("page", ""), ("match", "_match"), ("unmatch", "_unmatch"), ("json", "_figures"))}


@pytest.fixture
def clients(april):
    accountant, _ = april["people"]["fund"]
    auditor = user_create(username="sun", password=PASSWORD, role="auditor", regions=["14"], insurers=["CLIC-1405"])
    stranger = user_create(username="wu", password=PASSWORD, role="fund_accountant", regions=["22"])
    out = {}
    for name, user in (("accountant", accountant), ("auditor", auditor), ("stranger", stranger)):
        c = Client(enforce_csrf_checks=False)
        c.force_login(user)
        out[name] = c
    return out


def test_the_page_shows_buttons_to_the_accountant_and_none_to_the_auditor(april, clients):
    u = urls(april["statement"])
    page = clients["accountant"].get(u["page"]).content.decode()
    assert 'id="ws-manual"' in page and "ws-accept" in page and 'name="posting"' in page
    book = april["statement"].account.book_id
    assert f"kind=bank-reconciliation&amp;book={book}&amp;year=2019&amp;month=4&amp;format=pdf" in page
    assert f"kind=bank-reconciliation&amp;book={book}&amp;year=2019&amp;month=4&amp;format=xlsx" in page
    seen = clients["auditor"].get(u["page"])
    html = seen.content.decode()
    assert seen.status_code == 200 and "ws-reconciliation" in html
    assert "<button" not in html.split('id="ws-body"')[1] and 'type="checkbox"' not in html
    assert clients["stranger"].get(u["page"]).status_code == 403
    # The auditor's post (forged: no button was shown) is refused and recorded.
    before = AuditEvent.objects.filter(action="access_refused").count()
    r = clients["auditor"].post(u["match"], {"line": line("B0428").pk, "posting": april["hand1"].pk})
    assert r.status_code == 403 and AuditEvent.objects.filter(action="access_refused").count() == before + 1
    assert not line("B0428").matched.exists()
    listing = clients["accountant"].get(reverse("admin:reconciliation_bankstatement_changelist")).content.decode()
    assert u["page"] in listing
    change = clients["accountant"].get(reverse("admin:reconciliation_bankstatement_change",
                                               args=[april["statement"].pk])).content.decode()
    assert u["page"] in change


def test_match_and_unmatch_by_fetch_fragment_and_by_plain_post(april, clients):
    st, c = april["statement"], clients["accountant"]
    u = urls(st)
    r = c.post(u["match"], {"line": [line("X0430").pk], "posting": [april["p300"].pk, april["p200"].pk]},
               HTTP_X_WORKSPACE="fragment")
    assert r.status_code == 200 and "<html" not in r.content.decode() and 'id="ws-reconciliation"' in r.content.decode()
    assert line("X0430").matched.count() == 2
    r = c.post(u["match"], {"line": [line("B0428").pk], "posting": [april["p50"].pk]}, HTTP_X_WORKSPACE="fragment")
    body = r.content.decode()
    assert r.status_code == 409 and "-1,000,000.00" in body and "-50,000.00" in body
    r = c.post(u["unmatch"], {"line": line("X0430").pk})  # no script: post and redirect
    assert r.status_code == 302 and r["Location"] == u["page"] and not line("X0430").matched.exists()
    figures = c.get(u["json"]).json()
    assert figures["adjusted_book"] == str(bank_reconciliation(statement=st).adjusted_book.amount)
    assert c.get(u["match"]).status_code == 405


def test_a_forged_posting_or_line_in_the_form_is_refused_403_and_recorded(april, clients, tmp_path):
    st, c = april["statement"], clients["accountant"]
    u = urls(st)
    insurer_posting = Posting.objects.filter(book=april["cy"].contract.insurer.books.get()).first()
    expense = april["p50"].entry.postings.get(account__code="5101")
    for forged in (insurer_posting, expense):
        before = AuditEvent.objects.filter(action="access_refused").count()
        r = c.post(u["match"], {"line": [line("FEE0430").pk], "posting": [forged.pk]}, HTTP_X_WORKSPACE="fragment")
        assert r.status_code == 403
        assert AuditEvent.objects.filter(action="access_refused").count() == before + 1
    assert not BankLine.objects.filter(matched__isnull=False).exists()
    r = c.post(u["match"], {"line": ["1e30", "=cmd|' /C calc'!A0"], "posting": [april["p50"].pk]})
    assert r.status_code == 302 and not BankLine.objects.filter(matched__isnull=False).exists()


def test_csrf_is_required(april):
    c = Client(enforce_csrf_checks=True)
    c.force_login(april["people"]["fund"][0])
    r = c.post(urls(april["statement"])["match"], {"line": [line("B0428").pk], "posting": [april["hand1"].pk]})
    assert r.status_code == 403 and not line("B0428").matched.exists()


# -- two people, one line (PostgreSQL: row locks between connections) ---------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between connections: PostgreSQL")
@pytest.mark.parametrize("other", ["same line, another posting", "same posting, another line"])
def test_two_people_matching_at_once_never_match_a_line_or_a_posting_twice(april, other):
    from django.db import connections

    st, hand1 = april["statement"], april["hand1"]
    extra = pay(april["cy"], april["people"], date(2019, 4, 30), "重复拨付", "1000000.00")
    first = ([line("B0428").pk], [hand1.pk])
    second = ([line("B0428").pk], [extra.pk]) if other.startswith("same line") else \
        ([line("JC-HAND-2").pk], [hand1.pk, extra.pk])  # 1,000,000 + 1,000,000 = 2,000,000
    for _attempt in range(3):
        start, outcomes = threading.Barrier(2), []

        def worker(who, lines, postings, start=start, outcomes=outcomes):
            try:
                start.wait(timeout=30)
                bank_match(statement=st, lines=lines, postings=postings, by=who)
                outcomes.append("matched")
            except Refused:
                outcomes.append("refused")
            except Exception as exc:  # noqa: BLE001 - reported to the test
                outcomes.append(repr(exc))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker, args=(w, *args))
                   for w, args in (("jc-limin", first), ("jc-zhangwei", second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["matched", "refused"], outcomes
        # Exactly one attempt's pairs exist: no line or posting in both.
        made = sorted(BankLine.matched.through.objects.filter(posting_id__in=[hand1.pk, extra.pk])
                      .values_list("bankline_id", "posting_id"))
        assert made in ([(ln, p) for ln in first[0] for p in first[1]],
                        sorted((ln, p) for ln in second[0] for p in second[1])), made
        for ref in ("B0428", "JC-HAND-2"):
            bank_unmatch(line=line(ref), by="jc-limin")
