"""A large claims file is checked a column at a time (claims_import's _chunk_fast) and written without undo
copies on SQLite; it must come out exactly as the row-by-row checks write it, and be refused for exactly
the same problems, named by the same rows."""

import csv
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

import claims.services
from bench.claims_data import write_claims
from claims.models import Claim, ClaimSummary, Hospital
from claims.policies import policy_get
from claims.services import claims_import, claims_recompute
from contracts.models import ContractYear
from contracts.services import contract_year_create
from core.errors import Refused

CLAIM_FIELDS = ("book_id", "contract_year_id", "claim_no", "person", "group_code", "admitted_on", "discharged_on",
                "settled_on", "hospital__code", "oop", "paid", "channel", "charged_to_id",
                "materials_received_on", "due_on", "expected", "summary__year", "summary__month",
                "summary__hospital__code", "summary__channel", "summary__contract_year_id")


@pytest.fixture
def jincheng(jincheng_people, monkeypatch):
    cy = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    contract_year_create(contract=cy.contract, year=2020, per_capita="85", insured_count=1733337,
                         tranches=[{"due": "2020-04-30", "cumulative_pct": "90"}], deposit_pct="10",
                         benefit_policy="shanxi-2019")
    # Chunks of 1,000 written, columns checked 700 rows at a time: the two boundaries never meet.
    monkeypatch.setattr(claims.services, "CHUNK", 1000)
    monkeypatch.setattr(claims.services, "FAST_ROWS", 700)
    return cy


def _preparer():
    return get_user_model().objects.get(username="clic1405-liuyang")


def _file(tmp_path, name="year.csv", **kwargs) -> list[list[str]]:
    """A year's claims (some settled after the cut-off, charged to 2020) with a hospital first met at row
    3,001 and group and channel written in Chinese on some rows."""
    write_claims(tmp_path / "raw.csv", n_claims=kwargs.pop("n", 4500), year=2019,
                 policy=policy_get(code="shanxi-2019"), hospitals=9, seed=kwargs.pop("seed", 7),
                 late_share=kwargs.pop("late_share", 0.05),
                 **kwargs)
    with open(tmp_path / "raw.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    for i, r in enumerate(rows[1:], start=1):
        if i > 3000:
            r[6], r[7] = "HNEW-01", "新定点医院"
        if i % 7 == 0:
            r[2] = {"general": "一般参保人员", "dibao": "低保对象"}.get(r[2], r[2])
            r[10] = {"direct": "直接结算", "manual": "手工报销"}.get(r[10], r[10])
    return rows


def _write(tmp_path, rows, name="year.csv"):
    with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return tmp_path / name


def _import_both_ways(path, contract, monkeypatch):
    """(what the import wrote or refused, how many rows were checked one by one), columns first, then rows."""
    outcomes, real = [], claims.services._Cells.person
    for at_once in (True, False):
        monkeypatch.setattr(claims.services, "COLUMNS_AT_ONCE", at_once)
        one_by_one = []

        def person(self, n, idno, checked=one_by_one):
            checked.append(n)
            return real(self, n, idno)

        monkeypatch.setattr(claims.services._Cells, "person", person)
        sid = transaction.savepoint()
        try:
            result = claims_import(path=path, contract=contract, by=_preparer())
        except Refused as exc:
            outcome = ("refused", [(p["row"], str(p["field"]), str(p["expected"]), str(p["found"]))
                                   for p in exc.problems])
        else:
            outcome = ("written", result.rows, result.oop_total, result.paid_total, sorted(result.years),
                       list(Claim.objects.filter(batch=result.batch).order_by("id").values_list(*CLAIM_FIELDS)),
                       list(ClaimSummary.objects.filter(batch=result.batch).order_by("id").values_list(
                           "contract_year_id", "year", "month", "hospital__code", "channel")),
                       list(Hospital.objects.order_by("id").values_list("code", "name")))
        outcomes.append((outcome, len(one_by_one)))
        transaction.savepoint_rollback(sid)
    return outcomes


def test_a_clean_file_checked_a_column_at_a_time_is_written_as_row_by_row(jincheng, tmp_path, monkeypatch):
    path = _write(tmp_path, _file(tmp_path))
    (at_once, checked_alone), (by_row, checked_by_row) = _import_both_ways(path, jincheng.contract, monkeypatch)
    assert checked_alone == 0 and checked_by_row == 4500  # the first way checked no row by itself
    assert at_once == by_row
    written = at_once[5]
    assert len(written) == 4500 and {c[1] for c in written} == {jincheng.pk}
    assert {c[12] for c in written} == {jincheng.pk, ContractYear.objects.get(contract=jincheng.contract,
                                                                               year=2020).pk}  # charged to 2020 too
    assert sum(1 for c in written if c[8] == "HNEW-01") == 1500 and ("HNEW-01", "新定点医院") in at_once[7]
    assert {c[4] for c in written} >= {"general", "dibao"} and {c[11] for c in written} >= {"direct", "manual"}


def test_a_file_with_problems_is_refused_for_the_same_problems_either_way(jincheng, tmp_path, monkeypatch):
    first = _file(tmp_path, seed=3, n=1200)
    claims_import(path=_write(tmp_path, first, "first.csv"), contract=jincheng.contract, by=_preparer())
    before = Claim.objects.count()
    rows = _file(tmp_path)
    for r in rows[1:]:
        r[0] = "B" + r[0]  # numbers of their own …
    # … but one the book already holds, in the middle of a chunk (file rows 1,002-2,001) written before any
    # other problem: the book's unique index refuses it as the chunk is written, rows 1,002-1,500 in already.
    rows[1500][0] = first[10][0]
    rows[2300][3] = "2019-02-30"  # not a date
    rows[2100][1] = rows[2100][1][:-1] + ("0" if rows[2100][1][-1] != "0" else "1")  # a wrong check character
    rows[2600][8] = "1e30"  # an amount written as a power of ten
    rows[3100][4], rows[3100][3] = "2019-03-01", "2019-03-05"  # discharged before admitted
    rows[3300][0] = "JC\x00-3300"  # a NUL in the claim number
    rows[3700][0] = rows[3699][0]  # the same number twice in the file
    rows[4200][2] = "=cmd|' /C calc'!A0"  # a formula where the group goes
    path = _write(tmp_path, rows)
    (at_once, _n), (by_row, _m) = _import_both_ways(path, jincheng.contract, monkeypatch)
    assert at_once == by_row
    assert at_once[0] == "refused" and [p[:2] for p in at_once[1]] == [
        (1501, "claim_no"), (2101, "id_number"), (2301, "admitted_on"), (2601, "oop"), (3101, "discharged_on"),
        (3301, "claim_no"), (3701, "claim_no"), (4201, "group")]
    assert Claim.objects.count() == before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's person index is built after a large file")
def test_the_person_index_is_built_again_after_a_large_file_and_read_where_a_year_held_claims(
        jincheng, tmp_path):
    def index_sql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'claim_person_key'")
            return cursor.fetchone()

    def cache_size():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return cursor.fetchone()[0]

    original, cache = index_sql(), cache_size()
    assert original is not None
    rows = _file(tmp_path, n=3000, late_share=0)
    claims_import(path=_write(tmp_path, rows, "march.csv"), contract=jincheng.contract, by=_preparer())
    assert index_sql() == original
    assert cache_size() == cache  # the index was sorted in a smaller page cache, then the connection's put back
    # A later file of the same persons, settled after all their claims before: their out-of-pocket so far is
    # read through the index (built again before the first lookup), and each claim's figure is the replay's.
    later = [rows[0]] + [[f"L{r[0]}", *r[1:3], "2019-12-31", "2019-12-31", "2020-03-31", *r[6:]] for r in rows[1:]]
    looked_up, cached = [], set()

    def indexed(execute, sql, params, many, context):
        if "substr(person, 1, 8)" in sql and sql.lstrip().upper().startswith("SELECT"):
            looked_up.append(connection.connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'claim_person_key'").fetchone())
            cached.add(connection.connection.execute("PRAGMA cache_size").fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(indexed):
        result = claims_import(path=_write(tmp_path, later, "december.csv"), contract=jincheng.contract,
                               by=_preparer())
    assert looked_up and set(looked_up) == {original}  # every lookup found the index there
    assert cached == {-claims.services.IMPORT_CACHE_KIB} and cache_size() == cache  # 32 MB within the import
    assert index_sql() == original
    assert jincheng.pk in result.final.years  # figured for good: no replay would follow this import
    imported = dict(Claim.objects.filter(batch=result.batch).values_list("claim_no", "expected"))
    claims_recompute(contract_year=jincheng)
    assert dict(Claim.objects.filter(batch=result.batch).values_list("claim_no", "expected")) == imported
    assert any(v is not None and v.amount > 0 for v in imported.values())
    # A refused large file leaves the index as it was.
    bad = [rows[0]] + [[f"R{r[0]}", *r[1:]] for r in rows[1:]]
    bad[-1][5] = "2019-13-01"
    with pytest.raises(Refused):
        claims_import(path=_write(tmp_path, bad, "bad.csv"), contract=jincheng.contract, by=_preparer())
    assert index_sql() == original and cache_size() == cache


def _set(column, value):
    def change(rows, i):
        rows[i][column] = value
    return change


def _number_of_row(j):
    def change(rows, i):
        rows[i][0] = rows[j][0]
    return change


def _wrong_check_character(rows, i):
    rows[i][1] = rows[i][1][:-1] + ("0" if rows[i][1][-1] != "0" else "1")


def _discharged_before_admitted(rows, i):
    rows[i][3], rows[i][4] = "2019-03-05", "2019-03-01"


def _settled_before_discharged(rows, i):
    rows[i][3], rows[i][4], rows[i][5] = "2019-03-01", "2019-03-05", "2019-03-02"


def _stay_in_2018(rows, i):
    rows[i][3], rows[i][4] = "2018-12-20", "2018-12-31"


def _one_cell_too_many(rows, i):
    rows[i].append("x")


@pytest.mark.parametrize(("change", "field"), [
    (_set(3, "2019-02-30"), "admitted_on"), (_wrong_check_character, "id_number"), (_set(8, "1e30"), "oop"),
    (_set(9, "100000000000.00"), "paid"), (_discharged_before_admitted, "discharged_on"),
    (_settled_before_discharged, "settled_on"), (_set(0, "JC\x00-1"), "claim_no"), (_set(0, ""), "claim_no"),
    (_number_of_row(1590), "claim_no"), (_number_of_row(10), "claim_no"), (_set(2, "=cmd|' /C calc'!A0"), "group"),
    (_set(10, "cash"), "channel"), (_set(6, "H#01"), "hospital_code"), (_set(7, "医院\x07"), "hospital_name"),
    (_stay_in_2018, "discharged_on"), (_one_cell_too_many, "columns"), (_set(9, "1.00\n2.00"), "paid"),
], ids=["date", "check-character", "1e30", "over-limit", "discharged", "settled", "nul", "empty-number",
        "number-twice-in-a-chunk", "number-of-an-earlier-chunk", "formula", "channel", "hospital-code",
        "hospital-name", "year-outside-contract", "columns", "two-amounts-in-one-cell"])
def test_one_bad_cell_in_a_clean_file_is_refused_as_row_by_row_refuses_it(jincheng, tmp_path, monkeypatch, change,
                                                                        field):
    """Row 1,601 alone is wrong, in the third block of 700 rows checked at once: each check of the columns must
    catch it (or the file would be written), and the rows then checked one by one name it as they would."""
    rows = _file(tmp_path, n=2000)
    change(rows, 1600)
    path = _write(tmp_path, rows)
    before = Claim.objects.count()
    (at_once, _n), (by_row, _m) = _import_both_ways(path, jincheng.contract, monkeypatch)
    assert at_once == by_row
    assert at_once[0] == "refused" and [p[:2] for p in at_once[1]] == [(1601, field)], at_once[1]
    assert Claim.objects.count() == before



def test_a_block_with_an_unusual_amount_is_checked_row_by_row_and_written_as_the_rest(jincheng, tmp_path,
                                                                                     monkeypatch):
    """Amounts a person types ("88", "12.5") are amounts, but not as claims systems write them: the block of
    rows 1,402-2,001 holding them is checked one row at a time, and the file is written as row by row writes it."""
    rows = _file(tmp_path, n=2000)
    rows[1600][8], rows[1601][9] = "88", "12.5"
    (at_once, checked_alone), (by_row, _m) = _import_both_ways(_write(tmp_path, rows), jincheng.contract,
                                                               monkeypatch)
    assert at_once == by_row and at_once[0] == "written"
    assert checked_alone == 600  # that block only: the two before it were checked a column at a time
    written = {c[2]: c for c in at_once[5]}
    assert written[rows[1600][0]][9].amount == Decimal("88.00")
    assert written[rows[1601][0]][10].amount == Decimal("12.50")


def test_a_number_already_in_the_book_is_named_beside_a_later_problem_before_any_chunk_is_written(
        jincheng, tmp_path, monkeypatch):
    """Row 301 repeats a claim number of an earlier file and row 901 holds no date; no chunk of 1,000 was
    full when the date was met, so nothing was written: row 301's number is looked up and named too."""
    first = _file(tmp_path, seed=3, n=1200)
    claims_import(path=_write(tmp_path, first, "first.csv"), contract=jincheng.contract, by=_preparer())
    before = Claim.objects.count()
    rows = _file(tmp_path, n=1500)
    for r in rows[1:]:
        r[0] = "B" + r[0]
    rows[300][0] = first[10][0]
    rows[900][3] = "2019-02-30"
    (at_once, _n), (by_row, _m) = _import_both_ways(_write(tmp_path, rows), jincheng.contract, monkeypatch)
    assert at_once == by_row
    assert at_once[0] == "refused" and [p[:2] for p in at_once[1]] == [(301, "claim_no"), (901, "admitted_on")]
    assert at_once[1][0][3] == first[10][0]  # the number, as found
    assert Claim.objects.count() == before


def test_the_rows_read_are_told_at_every_thousand_though_read_700_at_a_time(jincheng, tmp_path):
    told = []
    result = claims_import(path=_write(tmp_path, _file(tmp_path)), contract=jincheng.contract, by=_preparer(),
                           progress=told.append)
    assert result.rows == 4500 and told == [1000, 2000, 3000, 4000]


def test_a_cell_too_long_for_the_csv_reader_after_a_written_chunk_refuses_the_file_and_leaves_nothing(
        jincheng, tmp_path):
    """Rows 2-1,001 are a full chunk, written before row 2,501 is read: its 200,000-character hospital name
    stops the CSV reader, the file is refused by that line, and the chunk written goes with the rest."""
    from claims.models import ClaimBatch

    rows = _file(tmp_path, n=3000)
    rows[2500][7] = "医" * 200_000
    before = (Claim.objects.count(), ClaimSummary.objects.count(), ClaimBatch.objects.count())
    with pytest.raises(Refused) as caught:
        claims_import(path=_write(tmp_path, rows), contract=jincheng.contract, by=_preparer())
    (p,) = caught.value.problems
    assert (p["row"], str(p["field"])) == (2501, "cell")
    assert (Claim.objects.count(), ClaimSummary.objects.count(), ClaimBatch.objects.count()) == before
