"""The claims sub-ledger: import a year's claims, replay them under the policy, post them by month.

Jincheng (Shanxi) 2019: deductible 10,000, 75%, 400,000 a year; special groups 5,000 and
78–80%. A synthetic year is written with a handful of payments deliberately wrong;
the recomputation must flag exactly those claims, by exactly those amounts.
"""

import csv
import json
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from bench.claims_data import HEADER, make_id, write_claims
from claims.identity import Pseudonymizer, id_problem
from claims.models import Claim, ClaimBatch
from claims.policies import policy_get
from claims.selectors import claims_discrepancies, claims_totals
from claims.services import claims_import, claims_post, claims_recompute
from contracts.models import ContractYear
from contracts.reference import reference_contracts_load
from contracts.services import contract_year_create
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.selectors import trial_balance


@pytest.fixture
def jincheng(db):
    reference_contracts_load()
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
    result = claims_import(path=path, contract=jincheng.contract)
    assert (result.created, result.paid_total) == (2, Decimal("13500.00"))
    assert claims_recompute(contract_year=jincheng) == 2
    assert [(c.claim_no, c.expected.amount) for c in Claim.objects.order_by("claim_no")] == [
        ("JC-1", Decimal("0")), ("JC-2", Decimal("13500"))]
    assert claims_discrepancies(contract_year=jincheng)["count"] == 0


def test_a_synthetic_year_flags_exactly_the_altered_payments(jincheng, tmp_path):
    made = write_claims(tmp_path / "year.csv", n_claims=4000, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=9, hospitals=30, seed=7)
    result = claims_import(path=tmp_path / "year.csv", contract=jincheng.contract)
    assert result.created == 4000
    for cy in ContractYear.objects.filter(contract=jincheng.contract):
        claims_recompute(contract_year=cy)
    found = claims_discrepancies(contract_year=jincheng, limit=None)
    assert {c["claim_no"]: c["difference"].amount for c in found["claims"]} == made["wrong"]
    over = sum(d for d in made["wrong"].values() if d > 0)
    assert found["overpaid"].amount == over and found["underpaid"].amount == -sum(
        d for d in made["wrong"].values() if d < 0)

    entries = claims_post(batch=result.batch)
    assert entries > 0 and claims_post(batch=result.batch) == 0  # posting again changes nothing
    # Every paid claim points at its entry; months where a hospital was owed nothing post nothing.
    assert not Claim.objects.filter(posted_entry__isnull=True, paid__gt=0).exists()
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


def test_importing_the_same_file_twice_creates_nothing(jincheng, tmp_path):
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "18000.00", "6000.00")])
    claims_import(path=path, contract=jincheng.contract)
    again = claims_import(path=path, contract=jincheng.contract)
    assert again.created == 0 and Claim.objects.count() == 1 and ClaimBatch.objects.count() == 1


def _refused(jincheng, path):
    with pytest.raises(Refused) as info:
        claims_import(path=path, contract=jincheng.contract)
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


def test_a_duplicated_claim_number_is_refused_in_the_file_and_against_the_books(jincheng, tmp_path):
    rows = [_row("JC-1", "2019-03-10", "1.00", "0.00"), _row("JC-1", "2019-04-10", "1.00", "0.00")]
    assert [(p["row"], p["field"]) for p in _refused(jincheng, _write(tmp_path / "a.csv", rows))] == [
        (3, "claim_no")]
    claims_import(path=_write(tmp_path / "b.csv", rows[:1]), contract=jincheng.contract)
    with pytest.raises(Refused) as info:
        claims_import(path=_write(tmp_path / "c.csv", [_row("JC-1", "2019-05-10", "2.00", "0.00")]),
                      contract=jincheng.contract)
    assert info.value.problems[0]["expected"] == "a claim number not already in the books"


def test_no_resident_id_number_is_stored_in_clear(jincheng, tmp_path):
    ids = [make_id(__import__("random").Random(i)) for i in range(20)]
    assert all(id_problem(i) is None for i in ids)
    rows = [_row(f"JC-{i}", "2019-05-10", "12000.00", "1500.00", idno=idno) for i, idno in enumerate(ids)]
    claims_import(path=_write(tmp_path / "c.csv", rows), contract=jincheng.contract)
    # A refused file must not leak them either, nor its messages more than a masked number.
    bad = _write(tmp_path / "bad.csv", [_row("JC-X", "2019-05-10", "1.00", "0.00", idno=ids[0][:17] + "Z")])
    with pytest.raises(Refused) as info:
        claims_import(path=bad, contract=jincheng.contract)
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


def test_the_import_command(jincheng, tmp_path):
    write_claims(tmp_path / "y.csv", n_claims=300, year=2019, policy=policy_get(code="shanxi-2019"), wrong=2,
                 hospitals=5, seed=3)
    out = StringIO()
    call_command("import_claims", str(tmp_path / "y.csv"), "--contract", "JC-2019", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["claims_created"] == 300 and data["discrepancies"]["2019"]["count"] == 2
    assert data["entries_posted"] > 0
    out = StringIO()
    call_command("import_claims", str(tmp_path / "y.csv"), "--contract", "JC-2019", "--json", stdout=out)
    assert json.loads(out.getvalue())["claims_created"] == 0


def test_the_pseudonym_depends_on_the_key():
    assert Pseudonymizer("a")(ID_A) != Pseudonymizer("b")(ID_A)
    assert Pseudonymizer("a")(ID_A.lower()) == Pseudonymizer("a")(ID_A.upper())
    assert len(Pseudonymizer("a")(ID_A)) == 64 and Path  # hex digest
