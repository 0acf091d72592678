"""The claims sub-ledger: import a year's claims, replay them under the policy, post them by month.

Jincheng (Shanxi) 2019: deductible 10,000, 75%, 400,000 a year; special groups 5,000 and
78–80%. A synthetic year is written with a handful of payments deliberately wrong;
the recomputation must flag exactly those claims, by exactly those amounts.
"""

import csv
import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from bench.claims_data import HEADER, make_id, write_claims
from claims.identity import Pseudonymizer, id_problem
from claims.models import Claim, ClaimBatch, ClaimSummary
from claims.policies import policy_get
from claims.selectors import claims_discrepancies, claims_totals
from claims.services import claims_import, claims_post, claims_recompute
from contracts.models import ContractYear
from contracts.services import contract_year_create
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry
from ledger.selectors import trial_balance


@pytest.fixture
def insurer_people(jincheng_people):
    """China Life Jincheng's 刘洋 imports (prepares) claims files; 周婷 reviews and posts them."""
    return jincheng_people["insurer"]


@pytest.fixture
def jincheng(jincheng_people):
    cy = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    contract_year_create(contract=cy.contract, year=2020, per_capita="85", insured_count=1733337,
                         tranches=[{"due": "2020-04-30", "cumulative_pct": "90"}], deposit_pct="10",
                         benefit_policy="shanxi-2019")
    return cy


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


ID_A = "14052519800101001" + "X"  # check character fixed below
ID_A = ID_A[:17] + __import__("claims.identity", fromlist=["check_digit"]).check_digit(ID_A[:17])


def _row(no, settled, oop, paid, idno=ID_A, group="general", hospital="H001", channel="direct"):
    d = date.fromisoformat(settled)
    return [no, idno, group, str(d.replace(day=1)), settled, settled, hospital, "晋城市人民医院", oop, paid, channel]


def test_two_stays_in_one_year_pay_on_the_cumulative_figure(jincheng, tmp_path):
    # 8,000 then 20,000: nothing for the first; (28,000 − 10,000) × 75% = 13,500 for the second.
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00"),
                                       _row("JC-2", "2019-06-20", "20000.00", "13500.00")])
    result = claims_import(path=path, contract=jincheng.contract, by=_preparer())
    assert (result.created, result.paid_total) == (2, Decimal("13500.00"))
    assert claims_recompute(contract_year=jincheng) == 2
    assert [(c.claim_no, c.expected.amount) for c in Claim.objects.order_by("claim_no")] == [
        ("JC-1", Decimal("0")), ("JC-2", Decimal("13500"))]
    assert claims_discrepancies(contract_year=jincheng, batch=result.batch)["count"] == 0


def test_a_synthetic_year_flags_exactly_the_altered_payments(jincheng, tmp_path):
    made = write_claims(tmp_path / "year.csv", n_claims=4000, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=9, hospitals=30, seed=7)
    result = claims_import(path=tmp_path / "year.csv", contract=jincheng.contract, by=_preparer())
    assert result.created == 4000
    for cy in ContractYear.objects.filter(contract=jincheng.contract):
        claims_recompute(contract_year=cy)
    found = claims_discrepancies(contract_year=jincheng, limit=None, batch=result.batch)
    assert {c["claim_no"]: c["difference"].amount for c in found["claims"]} == made["wrong"]
    over = sum(d for d in made["wrong"].values() if d > 0)
    assert found["overpaid"].amount == over and found["underpaid"].amount == -sum(
        d for d in made["wrong"].values() if d < 0)

    preparer, reviewer = _preparer(), _reviewer()
    with pytest.raises(Refused):  # the batch's preparer does not post it
        claims_post(batch=result.batch, reviewed_by=preparer)
    assert claims_discrepancies(contract_year=jincheng)["count"] == 0  # awaiting review, it counts nowhere yet
    entries = claims_post(batch=result.batch, reviewed_by=reviewer)
    assert entries > 0 and claims_post(batch=result.batch, reviewed_by=reviewer) == 0  # again: nothing new
    result.batch.refresh_from_db()
    assert (result.batch.status, result.batch.prepared_by, result.batch.reviewed_by) == ("posted", preparer, reviewer)
    # Every paid claim points at its entry; months where a hospital was owed nothing post nothing.
    assert not Claim.objects.filter(summary__entry__isnull=True, paid__gt=0).exists()
    book = jincheng.contract.insurer.books.get()
    tb = trial_balance(book=book, year=2019)
    paid_2019 = sum((c.paid.amount for c in Claim.objects.filter(settled_on__year=2019)), Decimal(0))
    assert next(r for r in tb.rows if r.account.code == "6511").period_debit.amount == paid_2019
    assert tb.balanced and ledger_verify().ok

    totals = claims_totals(contract_year=jincheng)
    assert totals["total"]["claims"] == 4000 and len(totals["hospitals"]) == 30
    late = Claim.objects.filter(settled_on__gt=date(2020, 3, 31))
    assert late.exists() and totals["carried"]["claims"] == late.count()
    assert set(late.values_list("charged_to__year", flat=True)) == {2020}  # charged to the next year


def test_each_voucher_carries_one_summary_of_claims_and_each_claim_finds_its_voucher(jincheng, tmp_path):
    """A batch's claims are summed by the year they are charged to, the month they were settled, the hospital
    and the channel; each sum is one voucher (two for direct settlement: the expense and its payment), and
    each claim finds the expense voucher through its summary."""
    write_claims(tmp_path / "year.csv", n_claims=3000, year=2019, policy=policy_get(code="shanxi-2019"),
                 hospitals=12, seed=11, late_share=0.02)
    batch = claims_import(path=tmp_path / "year.csv", contract=jincheng.contract, by=_preparer()).batch
    claims = list(Claim.objects.filter(batch=batch).select_related("summary", "contract_year", "charged_to"))
    for c in claims:  # written with the claims, the summary says what the claim says
        s = c.summary
        assert (s.batch_id, s.contract_year, s.year, s.month, s.hospital_id, s.channel) == (
            batch.pk, c.charged_to or c.contract_year, c.settled_on.year, c.settled_on.month, c.hospital_id, c.channel)
    summaries = ClaimSummary.objects.filter(batch=batch)
    assert summaries.filter(contract_year__year=2020).exists()  # settled after 2019's cut-off: charged to 2020
    assert summaries.count() == len({c.summary_id for c in claims}) and not summaries.exclude(entry=None).exists()

    claims_post(batch=batch, reviewed_by=_reviewer())
    paid = {}
    for c in Claim.objects.filter(batch=batch):
        paid[c.summary_id] = paid.get(c.summary_id, 0) + c.paid.amount
    for s in ClaimSummary.objects.filter(batch=batch).select_related("entry"):
        if not paid[s.pk]:
            assert s.entry is None  # nothing owed to that hospital that month: nothing posted
            continue
        expense = s.entry.postings.get(account__code="6511")
        assert expense.debit.amount == paid[s.pk] and s.entry.date.month == s.month
        assert s.entry.date.year == s.year and s.entry.status == JournalEntry.Status.POSTED
    vouchers = JournalEntry.objects.filter(source=f"claims batch {batch.pk}", postings__account__code="6511")
    assert vouchers.count() == ClaimSummary.objects.filter(batch=batch).exclude(entry=None).count()
    some = Claim.objects.filter(batch=batch, paid__gt=0).first()
    assert some.posted_entry == ClaimSummary.objects.get(pk=some.summary_id).entry


def test_a_file_of_many_chunks_is_written_while_the_next_is_read(jincheng, tmp_path, monkeypatch):
    """Chunks of 1,000 here (20,000 in use): each is written on the writer's thread while the next one is
    checked. Every claim arrives with its payable; a claim number of the first chunk repeated in the last
    refuses the whole file, naming the row, and nothing stays."""
    import claims.services

    monkeypatch.setattr(claims.services, "CHUNK", 1000)
    made = write_claims(tmp_path / "year.csv", n_claims=4500, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=7, hospitals=9, seed=3, late_share=0)
    with open(tmp_path / "year.csv", encoding="utf-8") as f:
        lines = f.readlines()
    first_number = lines[1].split(",")[0]
    batch = claims_import(path=tmp_path / "year.csv", contract=jincheng.contract, by=_preparer()).batch
    assert Claim.objects.filter(batch=batch).count() == 4500
    assert not Claim.objects.filter(batch=batch, expected__isnull=True).exists()
    assert claims_recompute(contract_year=jincheng, batch=batch) == 4500
    found = claims_discrepancies(contract_year=jincheng, limit=None, batch=batch)
    assert {c["claim_no"]: c["difference"].amount for c in found["claims"]} == made["wrong"]

    claims_before, summaries_before = Claim.objects.count(), ClaimSummary.objects.count()
    lines = [lines[0]] + [line.replace("2019-", "2019X", 1) for line in lines[1:]]  # new numbers …
    lines[-1] = first_number + lines[-1][lines[-1].index(","):]  # … but the last repeats the first file's first
    (tmp_path / "again.csv").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(Refused) as info:
        claims_import(path=tmp_path / "again.csv", contract=jincheng.contract, by=_preparer())
    assert [(p["row"], p["field"], p["found"]) for p in info.value.problems] == [(4501, "claim_no", first_number)]
    assert (Claim.objects.count(), ClaimSummary.objects.count()) == (claims_before, summaries_before)
    assert ClaimBatch.objects.count() == 1


def test_reads_first_needed_late_in_a_file_wait_for_the_chunk_being_written(jincheng, tmp_path, monkeypatch):
    """A hospital new to the books, the first received date (its time limit and the working-day calendar)
    met only after the first chunk has gone to the writer's thread: each read or write waits for that chunk
    (the connection is the writer's meanwhile), and every claim arrives with its hospital and due date."""
    import claims.services
    from claims.deadlines import ClaimDue
    from claims.models import Hospital

    monkeypatch.setattr(claims.services, "CHUNK", 1000)
    write_claims(tmp_path / "raw.csv", n_claims=3000, year=2019, policy=policy_get(code="shanxi-2019"),
                 hospitals=4, seed=5, late_share=0)
    with open(tmp_path / "raw.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    out = [rows[0] + ["materials_received_on"]]
    for i, r in enumerate(rows[1:], start=1):
        if i > 2500:
            r[6], r[7] = "HLATE01", "晚到医院"
        out.append(r + ([r[5]] if i > 1500 else [""]))
    with open(tmp_path / "late.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(out)
    batch = claims_import(path=tmp_path / "late.csv", contract=jincheng.contract, by=_preparer()).batch
    assert Claim.objects.filter(batch=batch).count() == 3000
    assert Claim.objects.filter(batch=batch, hospital=Hospital.objects.get(code="HLATE01")).count() == 500
    due = ClaimDue()
    for c in Claim.objects.filter(batch=batch, claim_no__in=[out[i][0] for i in (1, 1501, 2200, 3000)]):
        expected = None if c.materials_received_on is None else due(
            policy=jincheng.benefit_policy, channel=c.channel, received_on=c.materials_received_on)
        assert c.due_on == expected
    assert Claim.objects.filter(batch=batch, materials_received_on__isnull=False).count() == 1500
    assert Claim.objects.filter(batch=batch, due_on__isnull=False).exists()  # the policy sets time limits


def test_no_query_runs_on_the_connection_while_a_chunk_is_being_written(jincheng, tmp_path, monkeypatch):
    """The connection is the writer's thread's while a chunk is written. A chunk's figures and summaries are
    worked out beside it only where that needs no query: here a group first met in the third chunk (its
    rule read from the policy) and a month first met in the last (its summaries written) wait for the chunk
    in flight, and every query of the import runs with none in flight."""
    import claims.services

    monkeypatch.setattr(claims.services, "CHUNK", 1000)
    write_claims(tmp_path / "raw.csv", n_claims=3000, year=2019, policy=policy_get(code="shanxi-2019"),
                 hospitals=4, seed=5, late_share=0)
    with open(tmp_path / "raw.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    for i, r in enumerate(rows[1:], start=1):
        r[2] = "dibao" if i > 2500 else "general"
        if i > 2900:
            r[3] = r[4] = r[5] = "2019-12-30"
    (tmp_path / "late.csv").write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    writers = []
    real_init = claims.services._ClaimsWriter.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        writers.append(self)

    def unwritten(execute, sql, params, many, context):
        busy = [w for w in writers if w.writer is not None and w.writer._thread is not None]
        assert not busy, f"a query while a chunk is being written: {sql[:80]}"
        return execute(sql, params, many, context)

    monkeypatch.setattr(claims.services._ClaimsWriter, "__init__", init)
    with connection.execute_wrapper(unwritten):
        result = claims_import(path=tmp_path / "late.csv", contract=jincheng.contract, by=_preparer())
    assert Claim.objects.filter(batch=result.batch, group_code="dibao").count() == 500
    assert ClaimSummary.objects.filter(batch=result.batch, month=12).exists()
    assert not Claim.objects.filter(batch=result.batch, expected__isnull=True).exists()


def _preparer():
    return get_user_model().objects.get(username="clic1405-liuyang")


def _reviewer():
    return get_user_model().objects.get(username="clic1405-zhouting")


# Shanxi 2019 (晋医保发〔2019〕52号), worked by hand from the text: general 10,000 deductible, 75%, capped at
# 400,000 a year; 低保 and other hardship groups 5,000 and 78% (cap 400,000); registered poor 5,000 and 80%
# with no cap; rural extreme poverty 5,000 and 80%, capped at 500,000. Each stay pays the increase of the
# person's yearly figure on their cumulative out-of-pocket.
WORKED = [
    # (claim, person, group, settled, out-of-pocket this stay, paid by hand)
    ("W-1", 0, "general", "2019-02-10", "12000.00", "1500.00"),       # (12,000 − 10,000) × 75%
    ("W-2", 0, "general", "2019-05-10", "100000.00", "75000.00"),     # (112,000 − 10,000) × 75% = 76,500 − 1,500
    ("W-3", 0, "general", "2019-09-10", "500000.00", "323500.00"),    # 451,500 capped to 400,000 − 76,500
    ("W-4", 1, "dibao", "2019-03-15", "15000.00", "7800.00"),         # (15,000 − 5,000) × 78%
    ("W-5", 2, "registered_poor", "2019-04-20", "1000000.00", "796000.00"),  # 995,000 × 80%, no cap
    ("W-6", 3, "extreme_poverty_rural", "2019-06-30", "700000.00", "500000.00"),  # 556,000 capped to 500,000
    ("W-7", 4, "general", "2019-07-01", "9999.99", "0.00"),           # below the deductible
]


def test_a_sample_of_claims_pinned_to_figures_worked_by_hand(jincheng, tmp_path):
    ids = [make_id(__import__("random").Random(100 + i)) for i in range(5)]
    rows = [_row(no, settled, oop, paid, idno=ids[who], group=group) for no, who, group, settled, oop, paid in WORKED]
    result = claims_import(path=_write(tmp_path / "w.csv", rows), contract=jincheng.contract, by=_preparer())
    claims_recompute(contract_year=jincheng)
    assert {c.claim_no: str(c.expected.amount) for c in Claim.objects.all()} == {
        no: paid for no, _, _, _, _, paid in WORKED}
    assert claims_discrepancies(contract_year=jincheng, batch=result.batch)["count"] == 0
    claims_post(batch=result.batch, reviewed_by=_reviewer())
    book = jincheng.contract.insurer.books.get()
    row = next(r for r in trial_balance(book=book, year=2019).rows if r.account.code == "6511")
    assert row.period_debit.amount == Decimal("1703800.00")  # 1,500 + 75,000 + 323,500 + 7,800 + 796,000 + 500,000


def test_a_file_with_a_claim_in_a_closed_month_is_refused_whole(jincheng, tmp_path):
    from ledger.models import Period
    from ledger.services import fiscal_year_open, period_close

    book = jincheng.contract.insurer.books.get()
    fiscal_year_open(book=book, year=2019)
    period_close(period=Period.objects.get(book=book, year=2019, month=3), by=_reviewer())
    rows = [_row("JC-1", "2019-02-10", "18000.00", "6000.00"), _row("JC-2", "2019-03-10", "18000.00", "6000.00")]
    problems = _refused(jincheng, _write(tmp_path / "c.csv", rows))
    assert [(p["row"], p["field"], p["found"]) for p in problems] == [(3, "settled_on", "2019-03-10 (period closed)")]
    assert not AuditEvent.objects.filter(action="imported").exists()


def test_a_refused_import_command_leaves_nothing_but_the_attempt_in_the_trail(jincheng, tmp_path):
    from ledger.models import Period
    from ledger.services import fiscal_year_open, period_close

    book = jincheng.contract.insurer.books.get()
    fiscal_year_open(book=book, year=2019)
    for month in range(1, 13):  # 2019 closed month by month: no 2019 claim can be posted any more
        period_close(period=Period.objects.get(book=book, year=2019, month=month), by=_reviewer())
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-12-10", "18000.00", "6000.00")])
    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("import_claims", str(path), "--contract", "JC-2019", "--as", "clic1405-liuyang", "--json",
                     stdout=out)
    assert stopped.value.code == 1
    assert json.loads(out.getvalue())["problems"][0]["found"] == "2019-12-10 (period closed)"
    assert (Claim.objects.count(), ClaimBatch.objects.count(), AuditEvent.objects.filter(action="imported").count()) \
        == (0, 0, 0)
    event = AuditEvent.objects.get(action="refused")
    assert (event.actor, event.detail["command"]) == ("clic1405-liuyang", "import_claims")
    assert "settled_on" in event.detail["problems"][0]


def test_a_batch_awaiting_review_counts_nowhere_and_its_preparer_may_withdraw_it(jincheng, tmp_path):
    from claims.services import claims_batch_withdraw
    from reconciliation.services import settlement_figures

    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "18000.00", "6000.00")])
    result = claims_import(path=path, contract=jincheng.contract, by=_preparer())
    claims_recompute(contract_year=jincheng)
    assert result.batch.status == "prepared"
    assert settlement_figures(contract_year=jincheng)["claims"] == Decimal("0.00")
    assert claims_totals(contract_year=jincheng)["total"]["claims"] == 0
    with pytest.raises(Refused):
        claims_batch_withdraw(batch=result.batch, by=_reviewer())  # not the preparer's: refused
    claims_batch_withdraw(batch=result.batch, by=_preparer())
    assert not Claim.objects.exists() and not ClaimBatch.objects.exists()
    withdrawn = AuditEvent.objects.get(action="deleted")
    assert (withdrawn.actor, withdrawn.detail["rows"], withdrawn.detail["paid"]) == ("clic1405-liuyang", 1, "6000.00")


def test_importing_the_same_file_twice_creates_nothing(jincheng, tmp_path):
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "18000.00", "6000.00")])
    claims_import(path=path, contract=jincheng.contract, by=_preparer())
    again = claims_import(path=path, contract=jincheng.contract, by=_preparer())
    assert again.created == 0 and Claim.objects.count() == 1 and ClaimBatch.objects.count() == 1


def _refused(jincheng, path):
    with pytest.raises(Refused) as info:
        claims_import(path=path, contract=jincheng.contract, by=_preparer())
    assert Claim.objects.count() == 0 and ClaimBatch.objects.count() == 0
    return info.value.problems


@pytest.mark.parametrize("change, field, expected", [
    (lambda r: r.__setitem__(1, ID_A[:17] + ("0" if ID_A[17] != "0" else "1")), "id_number",
     "the GB 11643 check character"),
    (lambda r: r.__setitem__(1, "1405251980"), "id_number", "18 characters, found 10"),
    (lambda r: r.__setitem__(2, "vip"), "group", "a group code or name"),
    (lambda r: r.__setitem__(8, "-5.00"), "oop", "an amount ≥ 0 with at most 2 decimals"),
    (lambda r: r.__setitem__(9, "abc"), "paid", "an amount ≥ 0 with at most 2 decimals"),
    (lambda r: r.__setitem__(5, "2019-03-01"), "settled_on", "on or after discharge 2019-03-10"),
    (lambda r: (r.__setitem__(4, "2017-03-10"), r.__setitem__(3, "2017-03-01"), r.__setitem__(5, "2017-03-10")),
     "discharged_on", "a date in a year of contract JC-2019 (2019, 2020)"),
    (lambda r: r.__setitem__(6, "H 0#1"), "hospital_code", "letters and digits"),
    (lambda r: r.__setitem__(10, "cash"), "channel", "direct / manual / advance"),
])
def test_bad_rows_are_refused_with_row_and_reason(jincheng, tmp_path, change, field, expected):
    good = _row("JC-1", "2019-03-10", "18000.00", "6000.00")
    bad = _row("JC-2", "2019-03-10", "18000.00", "6000.00")
    change(bad)
    problems = _refused(jincheng, _write(tmp_path / "c.csv", [good, bad]))
    assert [(p["row"], p["field"]) for p in problems] == [(3, field)]
    assert problems[0]["expected"].startswith(expected)


def test_a_control_character_in_a_number_or_a_name_is_refused_by_row(jincheng, tmp_path):
    # A NUL in a claim number stopped a PostgreSQL import with the driver's "invalid byte sequence" and no
    # row named (SQLite stored it); an escape character in a hospital's name is no name either.
    bad_name = _row("JC-3", "2019-03-12", "1.00", "0.00")
    bad_name[7] = "晋城市\x1b[31m人民医院"
    problems = _refused(jincheng, _write(tmp_path / "c.csv", [
        _row("JC-1", "2019-03-10", "1.00", "0.00"), _row("JC-\x002", "2019-03-11", "1.00", "0.00"), bad_name]))
    assert [(p["row"], p["field"], p["found"]) for p in problems] == [
        (3, "claim_no", "JC-\\x002"), (4, "hospital_name", "晋城市\\x1b[31m人民医院")]
    assert problems[0]["expected"] == "text without control characters"


def test_a_duplicated_claim_number_is_refused_in_the_file_and_against_the_books(jincheng, tmp_path):
    rows = [_row("JC-1", "2019-03-10", "1.00", "0.00"), _row("JC-1", "2019-04-10", "1.00", "0.00")]
    assert [(p["row"], p["field"]) for p in _refused(jincheng, _write(tmp_path / "a.csv", rows))] == [
        (3, "claim_no")]
    claims_import(path=_write(tmp_path / "b.csv", rows[:1]), contract=jincheng.contract, by=_preparer())
    with pytest.raises(Refused) as info:
        claims_import(path=_write(tmp_path / "c.csv", [_row("JC-1", "2019-05-10", "2.00", "0.00")]),
                      contract=jincheng.contract, by=_preparer())
    assert info.value.problems[0]["expected"] == "a claim number not already in the books"


def test_no_resident_id_number_is_stored_in_clear(jincheng, tmp_path):
    ids = [make_id(__import__("random").Random(i)) for i in range(20)]
    assert all(id_problem(i) is None for i in ids)
    rows = [_row(f"JC-{i}", "2019-05-10", "12000.00", "1500.00", idno=idno) for i, idno in enumerate(ids)]
    claims_import(path=_write(tmp_path / "c.csv", rows), contract=jincheng.contract, by=_preparer())
    # A refused file must not leak them either, nor its messages more than a masked number.
    bad = _write(tmp_path / "bad.csv", [_row("JC-X", "2019-05-10", "1.00", "0.00", idno=ids[0][:17] + "Z")])
    with pytest.raises(Refused) as info:
        claims_import(path=bad, contract=jincheng.contract, by=_preparer())
    assert ids[0][:17] not in json.dumps(info.value.problems, ensure_ascii=False)
    dump = _database_text()
    assert not [i for i in ids if i in dump or i[:17] in dump]
    assert Pseudonymizer()(ids[0]) in dump  # what is stored instead


def _database_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)


def test_the_import_and_approve_commands(jincheng, tmp_path):
    write_claims(tmp_path / "y.csv", n_claims=300, year=2019, policy=policy_get(code="shanxi-2019"), wrong=2,
                 hospitals=5, seed=3)

    def run(*args):
        out = StringIO()
        try:
            call_command(*args, "--json", stdout=out)
            return 0, json.loads(out.getvalue())
        except SystemExit as exc:
            return exc.code, json.loads(out.getvalue())

    with pytest.raises(CommandError, match="有姓名的人员制单"):  # prepared by someone, never by "the operator"
        call_command("import_claims", str(tmp_path / "y.csv"), "--contract", "JC-2019")
    code, data = run("import_claims", str(tmp_path / "y.csv"), "--contract", "JC-2019", "--as", "clic1405-liuyang")
    assert code == 0 and data["claims_created"] == 300 and data["discrepancies"]["2019"]["count"] == 2
    assert data["status"] == "prepared" and not JournalEntry.objects.exists()
    code, again = run("import_claims", str(tmp_path / "y.csv"), "--contract", "JC-2019", "--as", "clic1405-liuyang")
    assert (code, again["claims_created"], again["batch"]) == (0, 0, data["batch"])
    code, refused = run("approve_claims", str(data["batch"]), "--as", "clic1405-liuyang")  # no 审核 right
    assert code == 1 and refused["problems"][0]["found"] == "clic1405-liuyang"
    assert AuditEvent.objects.filter(action="access_refused", actor="clic1405-liuyang").count() == 1
    code, posted = run("approve_claims", str(data["batch"]), "--as", "clic1405-zhouting")
    assert code == 0 and posted["status"] == "posted" and posted["entries_posted"] > 0
    assert set(JournalEntry.objects.values_list("made_by__username", "reviewed_by__username")) == {
        ("clic1405-liuyang", "clic1405-zhouting")}


def test_the_pseudonym_depends_on_the_key():
    assert Pseudonymizer("a")(ID_A) != Pseudonymizer("b")(ID_A)
    assert Pseudonymizer("a")(ID_A.lower()) == Pseudonymizer("a")(ID_A.upper())
    # HMAC-SHA256 of the upper-cased number under the key, as hex: what the README promises.
    assert Pseudonymizer("a")(ID_A) == hmac.new(b"a", ID_A.upper().encode(), hashlib.sha256).hexdigest()
    # Worked from the keyed states, not through hmac: keys of a block's length and over it (hashed first),
    # and keys beyond ASCII, give hmac's digest too.
    for key in ("k" * 63, "k" * 64, "k" * 65, "k" * 200, "医保密钥-2019", "x" * 30 + "钥" * 20):
        for number in (ID_A, ID_A.lower(), "11010519491231002x"):
            assert Pseudonymizer(key)(number) == hmac.new(key.encode(), number.upper().encode(),
                                                          hashlib.sha256).hexdigest(), (key, number)
    assert Pseudonymizer()(ID_A) == Pseudonymizer(settings.PSEUDONYM_KEY)(ID_A) != Pseudonymizer("a")(ID_A)


def _expected(claims) -> dict:
    """Each claim's payable by the policy, as stored (None: not worked out)."""
    return {no: None if e is None else e.amount for no, e in claims.values_list("claim_no", "expected")}


def test_an_import_fills_in_what_the_policy_pays_and_the_recomputation_puts_late_claims_right(jincheng, tmp_path):
    # A month's file in settlement order: every claim arrives with its payable worked out as the recomputation
    # would (Shanxi 2019: 75 % above 10,000 cumulative), so the recomputation after it changes nothing.
    made = write_claims(tmp_path / "y.csv", n_claims=400, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=4, hospitals=6, seed=3, late_share=0)
    batch = claims_import(path=tmp_path / "y.csv", contract=jincheng.contract, by=_preparer()).batch
    filled = _expected(Claim.objects)
    assert len(filled) == made["claims"] and None not in filled.values()
    assert claims_recompute(contract_year=jincheng, batch=batch) == made["claims"]
    assert _expected(Claim.objects) == filled
    assert claims_discrepancies(contract_year=jincheng, limit=0, batch=batch)["count"] == len(made["wrong"])

    # Person A's June stay comes in a file before the March one: in file order the June stay would pay
    # (20,000 − 10,000) × 75 % = 7,500 and March (28,000 − 20,000) × 75 % = 6,000; in settlement order March
    # pays 0 (8,000 is under the deductible) and June (28,000 − 10,000) × 75 % = 13,500.
    late = claims_import(path=_write(tmp_path / "a.csv", [_row("JC-6", "2019-06-20", "20000.00", "13500.00"),
                                                          _row("JC-3", "2019-03-10", "8000.00", "0.00")]),
                         contract=jincheng.contract, by=_preparer())
    assert _expected(Claim.objects.filter(batch=late.batch)) == {
        "JC-6": Decimal("7500.00"), "JC-3": Decimal("6000.00")}
    claims_recompute(contract_year=jincheng, batch=late.batch)
    assert _expected(Claim.objects.filter(batch=late.batch)) == {
        "JC-6": Decimal("13500.00"), "JC-3": Decimal("0.00")}
    # The same as replaying the whole year from nothing.
    after = _expected(Claim.objects)
    Claim.objects.update(expected=None)
    claims_recompute(contract_year=jincheng)
    assert _expected(Claim.objects) == after


def test_a_late_claim_recomputes_only_its_persons_year(jincheng, tmp_path):
    # Two persons' first stays arrive in one file; a later file brings a late stay of person A only.
    id_b = "14052519900202002"
    id_b += __import__("claims.identity", fromlist=["check_digit"]).check_digit(id_b)
    first = claims_import(path=_write(tmp_path / "a.csv", [
        _row("JC-1", "2019-03-10", "8000.00", "0.00"),
        _row("JC-2", "2019-04-10", "30000.00", "15000.00", idno=id_b)]), contract=jincheng.contract, by=_preparer())
    assert claims_recompute(contract_year=jincheng, batch=first.batch) == 2
    # Mark B's stored figure: only a recomputation of B's year would overwrite it.
    Claim.objects.filter(claim_no="JC-2").update(expected=Decimal("1.23"))
    late = claims_import(path=_write(tmp_path / "b.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00")]),
                         contract=jincheng.contract, by=_preparer())
    # A's two claims replay (the earlier one with the late one), B's is left as it was.
    assert claims_recompute(contract_year=jincheng, batch=late.batch) == 2
    assert {c.claim_no: c.expected.amount for c in Claim.objects.all()} == {
        "JC-1": Decimal("0"), "JC-3": Decimal("13500"), "JC-2": Decimal("1.23")}
    # The whole year replayed gives A the same figures, and B its own: (30,000 − 10,000) × 75%.
    assert claims_recompute(contract_year=jincheng) == 3
    assert {c.claim_no: c.expected.amount for c in Claim.objects.all()} == {
        "JC-1": Decimal("0"), "JC-3": Decimal("13500"), "JC-2": Decimal("15000")}


def test_the_replay_in_sql_and_in_process_give_every_claim_the_same_figure(jincheng, tmp_path):
    """SQLite replays a year in this process (claims.services._recompute_in_process), PostgreSQL in one SQL
    statement (_recompute_sql): on the same claims, both paths, on this database, store the same figures."""
    import claims.services as services

    write_claims(tmp_path / "year.csv", n_claims=3000, year=2019, policy=policy_get(code="shanxi-2019"),
                 hospitals=5, seed=21, late_share=0.05)
    batch = claims_import(path=tmp_path / "year.csv", contract=jincheng.contract, by=_preparer()).batch
    table, scope, params = Claim._meta.db_table, "contract_year_id = %s", [jincheng.pk]
    policy = policy_get(code=jincheng.benefit_policy)
    rules = {g: services._rule_in_fen(policy.rule(g)) for g in set(Claim.objects.values_list("group_code", flat=True))}
    assert len(rules) > 1 and all(rules.values())

    def figures():
        return dict(Claim.objects.filter(batch=batch).values_list("claim_no", "expected"))

    Claim.objects.update(expected=None)
    assert services._recompute_in_process(table, scope, params, policy) == 3000
    in_process = figures()
    Claim.objects.update(expected=None)
    assert services._recompute_sql(table, scope, params, rules) == 3000
    assert figures() == in_process and None not in in_process.values()
    # Three figures spoilt are put right, the rest left as they are, by either path.
    spoilt = list(Claim.objects.filter(paid__gt=0).values_list("pk", flat=True)[:3])
    for replay in (lambda: services._recompute_in_process(table, scope, params, policy),
                   lambda: services._recompute_sql(table, scope, params, rules)):
        Claim.objects.filter(pk__in=spoilt).update(expected=Decimal("987.65"))
        assert replay() == 3000
        assert figures() == in_process
    # A claim in a group the rules given do not cover: nothing written, and None (claims_recompute then
    # asks the policy for the group, which refuses it by name).
    Claim.objects.filter(pk__in=spoilt).update(expected=Decimal("987.65"))
    assert services._recompute_sql(table, scope, params, dict(list(rules.items())[1:])) is None
    assert {e.amount for e in Claim.objects.filter(pk__in=spoilt).values_list("expected", flat=True)} == {
        Decimal("987.65")}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_a_large_import_brings_the_planners_statistics_up_to_its_rows(jincheng, tmp_path, monkeypatch):
    # With the statistics of the table before the file, PostgreSQL planned the recomputation that follows in
    # the same transaction as nested loops over "ten rows": a million claims took 20 s instead of 5.
    from claims import services

    monkeypatch.setattr(services, "ANALYZE_ROWS", 100)
    write_claims(tmp_path / "y.csv", n_claims=300, year=2019, policy=policy_get(code="shanxi-2019"), hospitals=4,
                 seed=9, late_share=0)
    claims_import(path=tmp_path / "y.csv", contract=jincheng.contract, by=_preparer())
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'claims_claim'")
        assert cursor.fetchone()[0] == Claim.objects.count() == 300


def test_the_imports_payable_in_whole_fen_is_the_policys_own_figure_for_every_shipped_rule(db):
    # The import works out payables in integers (what the recomputation's SQL does); every shipped policy's
    # every group, at and around each band's edge and at random, must give GroupRule's Decimal figure.
    import random

    from claims.policies import policies_load
    from claims.services import _payable_fen, _rule_in_fen

    policies_load()
    rng = random.Random(16)
    checked = 0
    for code in ("shandong-2015", "shanxi-2019", "jiangxi-2025", "jilin-2020", "xuzhou-2013-rural",
                 "xuzhou-2013-urban"):
        policy = policy_get(code=code)
        for group in policy.accepted():
            try:
                rule = policy.rule(group)
            except Refused:
                continue  # waits for a figure: the recomputation refuses it, the import leaves it empty
            in_fen = _rule_in_fen(rule)
            if in_fen is None:
                continue
            edges = [int(start * 100) for start, _ratio in rule.bands]
            if rule.cap is not None:
                edges.append(int(rule.cap * 100))
            for fen in [0, 1, *(e + d for e in edges for d in (-1, 0, 1)),
                        *(rng.randrange(0, 200_000_000) for _ in range(200))]:
                assert _payable_fen(in_fen, fen) == int(rule.yearly_payable(Decimal(fen) / 100) * 100), (
                    code, group, fen)
                checked += 1
    assert checked > 1000


def test_two_persons_whose_pseudonyms_begin_alike_are_kept_apart(jincheng, tmp_path):
    # The person index holds a pseudonym's first eight characters (claims 0013); two persons sharing them
    # happen about once in 4e9 pairs, so one is made here: a stay of 30,000 by a "twin" of person A.
    first = claims_import(path=_write(tmp_path / "a.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00")]),
                          contract=jincheng.contract, by=_preparer())
    claims_recompute(contract_year=jincheng, batch=first.batch)
    twin = Claim.objects.get(claim_no="JC-1")
    a = twin.person
    twin.pk, twin.claim_no, twin.person = None, "JC-T", a[:8] + ("0" if a[8] != "0" else "1") * 56
    twin.save()
    Claim.objects.filter(claim_no="JC-T").update(oop=Decimal("30000.00"), expected=Decimal("1.23"))
    # A's June stay: A has 8,000 so far, so (28,000 − 10,000) × 75 % = 13,500. Counting the twin's 30,000 too
    # would give 36,000 − 21,000 = 15,000.
    late = claims_import(path=_write(tmp_path / "b.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00")]),
                         contract=jincheng.contract, by=_preparer())
    assert Claim.objects.get(claim_no="JC-3").expected.amount == Decimal("13500.00")
    # The replay narrowed by the index takes the twin's year too, and works it out on its own: 30,000 → 15,000.
    assert claims_recompute(contract_year=jincheng, batch=late.batch) == 3
    assert {c.claim_no: c.expected.amount for c in Claim.objects.all()} == {
        "JC-1": Decimal("0"), "JC-3": Decimal("13500"), "JC-T": Decimal("15000")}


ID_B = "14052519900202002" + "X"
ID_B = ID_B[:17] + __import__("claims.identity", fromlist=["check_digit"]).check_digit(ID_B[:17])


def _replayed(queries) -> bool:
    """Whether a replay read a year: PostgreSQL's window over each person, SQLite's reading in person order."""
    return any("PARTITION BY person" in q["sql"] or "ORDER BY substr(person" in q["sql"] for q in queries)


def _import(jincheng, path, rows):
    return claims_import(path=_write(path, rows), contract=jincheng.contract, by=_preparer())


def _figures():
    return {c.claim_no: c.expected.amount for c in Claim.objects.all()}


def test_a_file_in_settlement_order_is_not_replayed_again(jincheng, tmp_path):
    # A: 8,000 in March, then 20,000 in June ((28,000 − 10,000) × 75 % = 13,500); B: 30,000 in May
    # ((30,000 − 10,000) × 75 % = 15,000). Each person's stays come in settlement order, so the import's
    # figures are the replay's and the recomputation that follows it has nothing to do.
    from django.test.utils import CaptureQueriesContext

    result = _import(jincheng, tmp_path / "a.csv", [
        _row("JC-1", "2019-03-10", "8000.00", "0.00"), _row("JC-2", "2019-05-02", "30000.00", "15000.00", idno=ID_B),
        _row("JC-3", "2019-06-20", "20000.00", "13500.00")])
    with CaptureQueriesContext(connection) as queries:
        assert claims_recompute(contract_year=jincheng, batch=result.batch, imported=result) == 3
    assert not _replayed(queries.captured_queries)
    assert _figures() == {"JC-1": Decimal("0"), "JC-2": Decimal("15000"), "JC-3": Decimal("13500")}
    with CaptureQueriesContext(connection) as queries:  # a full replay finds the same figures
        assert claims_recompute(contract_year=jincheng) == 3
    assert _replayed(queries.captured_queries)
    assert _figures() == {"JC-1": Decimal("0"), "JC-2": Decimal("15000"), "JC-3": Decimal("13500")}


def test_a_file_across_two_years_counts_each_persons_year_apart(jincheng, tmp_path):
    # A: 8,000 in March 2019 (nothing), 20,000 in February 2020 (a new year: (20,000 − 10,000) × 75 % = 7,500),
    # then 20,000 in June 2019, after the 2020 row in the file but after March in her 2019: (28,000 − 10,000)
    # × 75 % = 13,500. Each year's stays come in settlement order, so both years' figures are final.
    cy_2020 = ContractYear.objects.get(contract=jincheng.contract, year=2020)
    result = _import(jincheng, tmp_path / "a.csv", [
        _row("JC-1", "2019-03-10", "8000.00", "0.00"), _row("JC-2", "2020-02-12", "20000.00", "7500.00"),
        _row("JC-3", "2019-06-20", "20000.00", "13500.00")])
    imported = _figures()
    assert imported == {"JC-1": Decimal("0"), "JC-2": Decimal("7500"), "JC-3": Decimal("13500")}
    assert result.final.years == {jincheng.pk: 2, cy_2020.pk: 1}
    for cy in (jincheng, cy_2020):
        claims_recompute(contract_year=cy)
    assert _figures() == imported


def test_a_person_out_of_settlement_order_is_replayed(jincheng, tmp_path):
    # A's June stay comes first in the file: the import counts it first (20,000 → 7,500, then March's
    # 8,000 on top → 6,000); the replay puts March first: 0, then 13,500.
    from django.test.utils import CaptureQueriesContext

    result = _import(jincheng, tmp_path / "a.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00"),
                                                    _row("JC-1", "2019-03-10", "8000.00", "0.00")])
    assert _figures() == {"JC-3": Decimal("7500"), "JC-1": Decimal("6000")}
    assert result.final is None
    with CaptureQueriesContext(connection) as queries:
        assert claims_recompute(contract_year=jincheng, batch=result.batch, imported=result) == 2
    assert _replayed(queries.captured_queries)
    assert _figures() == {"JC-3": Decimal("13500"), "JC-1": Decimal("0")}


def test_a_later_file_is_final_only_after_each_persons_latest_stay(jincheng, tmp_path):
    # March's file, then June's: A's June stay comes after her March one, so June's import works out
    # 13,500 on the 8,000 so far and nothing is replayed. A third file with a February stay of A's comes
    # before her March one: that year is replayed (February 8,000 → 0, March 8,000 → 4,500 ((16,000 −
    # 10,000) × 75 %), June 20,000 → 15,000 ((36,000 − 10,000) × 75 % − 4,500)).
    from django.test.utils import CaptureQueriesContext

    march = _import(jincheng, tmp_path / "m.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00")])
    claims_recompute(contract_year=jincheng, batch=march.batch, imported=march)
    june = _import(jincheng, tmp_path / "j.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00")])
    with CaptureQueriesContext(connection) as queries:
        assert claims_recompute(contract_year=jincheng, batch=june.batch, imported=june) == 1
    assert not _replayed(queries.captured_queries)
    assert _figures() == {"JC-1": Decimal("0"), "JC-3": Decimal("13500")}
    february = _import(jincheng, tmp_path / "f.csv", [_row("JC-0", "2019-02-10", "8000.00", "0.00")])
    assert february.final is None
    claims_recompute(contract_year=jincheng, batch=february.batch, imported=february)
    assert _figures() == {"JC-0": Decimal("0"), "JC-1": Decimal("4500"), "JC-3": Decimal("15000")}


def test_a_batch_written_between_an_import_and_its_recomputation_makes_the_year_replay(jincheng, tmp_path):
    # As two imports of the same contract on two connections: June's file is imported, then (before June's
    # recomputation) a March file of A's is; June's figure, worked out without March, must be replayed.
    june = _import(jincheng, tmp_path / "j.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00")])
    assert june.final is not None and _figures() == {"JC-3": Decimal("7500")}
    _import(jincheng, tmp_path / "m.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00")])
    assert claims_recompute(contract_year=jincheng, batch=june.batch, imported=june) == 2
    assert _figures()["JC-3"] == Decimal("13500")


def test_a_policy_edited_between_an_import_and_its_recomputation_makes_the_year_replay(jincheng, tmp_path):
    # The general group's ratio edited from 75 % to 80 % after the import: A's 20,000 pays 8,000, not 7,500.
    from claims.models import BenefitPolicy
    from claims.policies import POLICY_DIR

    result = _import(jincheng, tmp_path / "j.csv", [_row("JC-3", "2019-06-20", "20000.00", "13500.00")])
    assert _figures() == {"JC-3": Decimal("7500")}
    definition = json.loads((POLICY_DIR / "shanxi-2019.json").read_text(encoding="utf-8"))
    definition["groups"]["general"]["bands"] = [["10000", "0.80"]]
    BenefitPolicy.objects.update_or_create(code="shanxi-2019", defaults={
        "year": 2019, "name": definition["name"], "source": definition["source"], "definition": definition})
    assert claims_recompute(contract_year=jincheng, batch=result.batch, imported=result) == 1
    assert _figures() == {"JC-3": Decimal("8000")}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's binary COPY")
def test_the_claims_binary_copy_names_each_columns_own_type(db):
    # Binary COPY data is not converted: an int4 sent for an int8 column, or a text date, is refused (or
    # worse, misread), so the types the import sends must be the table's, column by column.
    from claims.services import _CLAIM_COLUMNS, _CLAIM_TYPES

    with connection.cursor() as cursor:
        cursor.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                       "WHERE attrelid = 'claims_claim'::regclass AND attnum > 0 AND NOT attisdropped")
        table = dict(cursor.fetchall())
    names = {"bigint": "int8", "character varying": "varchar", "date": "date"}
    assert [names[table[c]] for c in _CLAIM_COLUMNS] == list(_CLAIM_TYPES)


def test_the_person_index_holds_the_key_the_lookups_name(db):
    # Every lookup of given persons narrows by PERSON_KEY; the index must hold that very expression, or the
    # database reads the whole year. PostgreSQL hashes it (claims 0014: only ever asked for given persons,
    # its replay sorts the year itself); SQLite keeps the ordered (year, key) index its replay reads in order.
    from claims.services import PERSON_KEY

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'claims_claim' "
                           "AND indexdef LIKE '%%person%%'")
            assert cursor.fetchall() == [("claim_person_hash", "CREATE INDEX claim_person_hash ON public.claims_claim "
                                          "USING hash (substr((person)::text, 1, 8))")]
            cursor.execute(f"EXPLAIN SELECT id FROM claims_claim WHERE {PERSON_KEY} = ANY(%s)", [["0123abcd"]])
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'claims_claim' AND sql LIKE '%person%'"
                           " AND type = 'index'")
            assert cursor.fetchall() == [("claim_person_key", "CREATE INDEX claim_person_key ON claims_claim "
                                          "(contract_year_id, substr(person, 1, 8))")]
            cursor.execute(f"EXPLAIN QUERY PLAN SELECT id FROM claims_claim WHERE contract_year_id = 1 "
                           f"AND {PERSON_KEY} IN (%s)", ["0123abcd"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "claim_person_" in plan, plan


def test_the_id_number_check_of_gb_11643():
    # The standard's own example: 11010519491231002X (Beijing, born 31 December 1949); its check is "X".
    from claims.identity import check_digit

    assert check_digit("11010519491231002") == "X"
    assert id_problem("11010519491231002X") is None and id_problem("11010519491231002x") is None
    assert id_problem("110105194912310021") is not None
    with pytest.raises(ValueError):
        check_digit("1101051949123100A")
    # With the file's birth dates remembered, each finding is the same as without.
    seen = {}
    for number in ("11010519491231002X", "110105194913310021", "110105189912310020", "110105194912310021",
                   "11010519491231002X", "110105194913310021"):
        assert str(id_problem(number, seen)) == str(id_problem(number))
    assert set(seen) == {"19491231", "19491331", "18991231"}
    assert seen["19491231"] is None and seen["18991231"] is None and seen["19491331"] is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL")
def test_one_replay_of_a_year_at_a_time(jincheng, tmp_path):
    # A replay reads its persons' claims, then writes their figures: a second replay of the year (another
    # file's, from another process) waits for the first to commit, while an import into the year (whose
    # statement trigger key-share locks it) is not held up.
    import psycopg
    from django.db import transaction

    batch = claims_import(path=_write(tmp_path / "a.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00")]),
                          contract=jincheng.contract, by=_preparer()).batch
    s = connection.settings_dict
    other = psycopg.connect(host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
                            dbname=s["NAME"])
    try:
        with transaction.atomic():
            assert claims_recompute(contract_year=jincheng, batch=batch) == 1
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT 1 FROM contracts_contractyear WHERE id = %s FOR NO KEY UPDATE NOWAIT",
                              [jincheng.pk])
            other.rollback()
            assert other.execute("SELECT 1 FROM contracts_contractyear WHERE id = %s FOR KEY SHARE NOWAIT",
                                 [jincheng.pk]).fetchone() == (1,)
            other.rollback()
        assert other.execute("SELECT 1 FROM contracts_contractyear WHERE id = %s FOR NO KEY UPDATE NOWAIT",
                             [jincheng.pk]).fetchone() == (1,)
        other.rollback()
    finally:
        other.close()
