"""A synthetic province, a year's work at a time, through the real services, each stage against its
physical baseline (bench.baseline) measured in the same run.

16 city funds, each with its fund book; 3 insurers, each with its 专账, each serving the cities assigned
to it (two counties a city, contract_year_regions_set); one contract per city, five contract years;
each year's premium paid by the fund and confirmed by the insurer (each side's accountant prepares, its
reviewer approves); a claims file per city and year imported, recomputed and posted; every contract
year settled (drafted, reviewed, posted, booked by the insurer); every book's years closed; then, on
real Celery workers (a private queue of the local Redis, against the scratch database), verify_ledger
over every book fanned out per book (ledger.tasks), and every statement of every book for the last year.

Stages and their baselines: the rows each stage inserted (or, for the recomputation, rewrote) are
counted per table and written again into bare copies of their tables by COPY (PostgreSQL) / multi-row
INSERT (SQLite); the reading stages' baseline reads the same rows plainly.
"""

import os
import tempfile
import time
from datetime import date
from pathlib import Path

from django.db import connection

from . import baseline
from .workers import Workers

YEAR0 = 2019
POLICY = "shanxi-2019"
# Shandong's 2015 terms (data/contracts.json): 2% retained, the rest returned to the basic fund.
TERMS = {"retained_cap_pct": "2", "cost_deducted": False, "surplus_to": "basic_fund", "insurer_loss_band_pct": "4",
         "beyond_band": "deferred", "policy_loss_fund_share_pct": "0", "incentive": [], "deposit_release": []}
UNPAID = "基准测试：按合同应拨保费结算，尚欠部分轧差"
OPENING = "1000000000000.00"  # each book's 建账 cash: no random year ever runs it dry


def add_arguments(parser):
    parser.add_argument("--province-funds", type=int, default=16, help="province: city funds (default 16)")
    parser.add_argument("--province-insurers", type=int, default=3, help="province: insurers (default 3)")
    parser.add_argument("--province-insured", type=int, default=20_000_000,
                        help="province: insured persons (default 20000000)")
    parser.add_argument("--province-claims", type=int, default=1_000_000,
                        help="province: claims a year, all cities (default 1000000)")
    parser.add_argument("--province-years", type=int, default=5, help="province: contract years (default 5)")
    parser.add_argument("--province-workers", type=int, default=2,
                        help="province: Celery worker processes for verification and statements (default 2)")
    parser.add_argument("--province-kinds", default="all",
                        help="province: statement kinds rendered, comma-separated (default all: reports.registry)")


def _peak_reset() -> None:
    # Linux: writing 5 to clear_refs resets the process's peak resident size (VmHWM), so each stage's own peak
    # is read; elsewhere the figure is the process's peak so far.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Stages:
    def __init__(self):
        self.figures = {}

    def write_stage(self, name: str, work, rewrite: dict | None = None):
        """Run `work`, count what it inserted per table, time the same rows written plainly."""
        before = baseline.marks()
        _peak_reset()
        t = time.perf_counter()
        out = work()
        seconds = time.perf_counter() - t
        peak = _peak_mb()
        spans = baseline.written_since(before)
        base, rewritten = baseline.write_seconds(spans, rewrite=rewrite)
        rows = sum(n for _lo, _hi, n in spans.values()) + sum(rewritten.values())
        tables = {t: n for t, (_a, _b, n) in spans.items()}
        for t, n in rewritten.items():
            tables[t] = tables.get(t, 0) + n
        self._record(name, seconds, rows, base, peak, tables=dict(sorted(tables.items())))
        return out

    def read_stage(self, name: str, work, selects):
        _peak_reset()
        t = time.perf_counter()
        out = work()
        seconds = time.perf_counter() - t
        peak = _peak_mb()
        base, rows = baseline.read_seconds(selects(out) if callable(selects) else selects)
        self._record(name, seconds, rows, base, peak)
        return out

    def _record(self, name, seconds, rows, base, peak, tables=None):
        self.figures[name] = {
            "seconds": round(seconds, 2), "rows": rows, "rows_per_s": round(rows / seconds) if seconds else None,
            "baseline_s": round(base, 3), "ratio": round(seconds / base, 1) if base else None,
            "peak_mb": peak, **({"tables": {k: v for k, v in tables.items() if v}} if tables else {}),
        }


# -- the province -----------------------------------------------------------------------------------------


def _people(insurers):
    """The province's named people: a fund accountant and a reviewer for every city's fund book (scope: the
    province), and an accountant and a reviewer for each insurer. Every voucher names two of them."""
    from access.demo import DemoPerson, demo_person

    fund = (demo_person(DemoPerson("prov-fund-maker", "省", "制单", "fund_accountant", regions=("14",))),
            demo_person(DemoPerson("prov-fund-checker", "省", "审核", "reviewer", regions=("14",))))
    by_insurer = {}
    for ins in insurers:
        by_insurer[ins.pk] = (
            demo_person(DemoPerson(f"{ins.code.lower()}-maker", "承办", f"制单{ins.code[-1]}", "insurer_accountant",
                                   insurers=(ins.code,))),
            demo_person(DemoPerson(f"{ins.code.lower()}-checker", "承办", f"审核{ins.code[-1]}", "reviewer",
                                   insurers=(ins.code,))))
    return fund, by_insurer


def _opening(book, cash: str, equity: str, maker, checker) -> None:
    from ledger.opening import opening_approve, opening_save
    from ledger.services import fiscal_year_open

    fiscal_year_open(book=book, year=YEAR0)
    opening_save(book=book, as_of=date(YEAR0, 1, 1), by=maker,
                 balances={cash: (OPENING, None), equity: (None, OPENING)})
    opening_approve(book=book, by=checker)


def _province(funds: int, insurers: int, insured: int, years: int, files: dict) -> dict:
    from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
    from contracts.services import (
        contract_create,
        contract_year_create,
        contract_year_regions_set,
        obligations_generate,
    )

    province = region_ensure(code="14", name="基准省", level="province")
    parties = [insurer_ensure(code=f"INS-P{k + 1}", name=f"基准承办保险公司{k + 1}") for k in range(insurers)]
    cities = []
    for i in range(funds):  # every region first: a person's scope is read (and kept) as it is when first asked
        city = region_ensure(code=f"14{i + 1:02d}", name=f"基准市{i + 1}", level="city", parent=province)
        cities.append((city, [region_ensure(code=f"14{i + 1:02d}{j:02d}", name=f"基准市{i + 1}第{j}县",
                                            level="county", parent=city) for j in (1, 2)]))
    insurer_books = [book_create(code=f"{ins.code}-DB", name=f"{ins.name}大病保险专账", insurer=ins) for ins in parties]
    per_city = insured // funds
    contracts, fund_books = [], []
    for i, (city, counties) in enumerate(cities):
        fund = fund_ensure(code=f"F-14{i + 1:02d}", name=f"基准市{i + 1}大病保险资金", region=city)
        fund_books.append(book_create(code=f"FUND-14{i + 1:02d}", name=f"{fund.name}账", fund=fund))
        insurer = parties[i % insurers]
        contract = contract_create(code=f"P14{i + 1:02d}", name=f"基准市{i + 1}大病保险承办合同", fund=fund,
                                   insurer=insurer, first_year=YEAR0, last_year=YEAR0 + years - 1)
        for y in range(YEAR0, YEAR0 + years):
            cy = contract_year_create(contract=contract, year=y, per_capita=_per_capita(files[(i, y)][1], per_city),
                                      insured_count=per_city,
                                      tranches=[{"due": f"{y}-01-15", "cumulative_pct": "100"}],
                                      benefit_policy=POLICY, settlement_terms=TERMS)
            half = per_city // 2
            contract_year_regions_set(contract_year=cy, regions=[(counties[0], half), (counties[1], per_city - half)])
            obligations_generate(contract_year=cy)
        contracts.append(contract)
    # The people last: a person's scope (its books) is read once and kept on the user object.
    fund_people, insurer_people = _people(parties)
    for ins, book in zip(parties, insurer_books, strict=True):
        _opening(book, "1002", "224199", *insurer_people[ins.pk])
    for book in fund_books:
        _opening(book, "1004", "3001", *fund_people)
    return {"contracts": contracts, "fund_people": fund_people, "insurer_people": insurer_people}


def _transfers(p: dict, year: int) -> int:
    """Each county's premium for the year, paid by the city's fund and confirmed by the insurer."""
    from contracts.models import PremiumObligation
    from contracts.services import transfer_approve, transfer_confirm, transfer_record

    maker, checker = p["fund_people"]
    n = 0
    for contract in p["contracts"]:
        imaker, ichecker = p["insurer_people"][contract.insurer_id]
        cy = contract.years.get(year=year)
        for ob in cy.obligations.filter(kind=PremiumObligation.Kind.TRANCHE).order_by("region__code"):
            paid_on = date(year, 1, 10)
            t = transfer_record(reference=f"{contract.code}-{year}-{ob.region.code}", obligation=ob,
                                insurer=contract.insurer, amount=ob.amount.amount, paid_on=paid_on, user=maker)
            transfer_approve(transfer=t, user=checker)
            t = transfer_confirm(transfer=t, user=imaker, received_on=paid_on)
            transfer_approve(transfer=t, user=ichecker)
            n += 1
    return n


def _claim_files(funds: int, per_city: int, years: int, tmp: Path) -> dict:
    """A claims file per city and year (not timed), claim numbers made unique within each insurer's book;
    {(city index, year): (path, what the insurer paid)}."""
    import csv
    from decimal import Decimal

    from claims.policies import policy_get

    from .claims_data import write_claims

    policy = policy_get(code=POLICY)
    files = {}
    raw = tmp / "raw.csv"
    for i in range(funds):
        for y in range(YEAR0, YEAR0 + years):
            path = tmp / f"{i}-{y}.csv"
            write_claims(raw, n_claims=per_city, year=y, policy=policy, seed=y * 100 + i, wrong=0)
            paid = Decimal(0)
            with open(raw, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
                dst.write(next(src))
                for line in src:
                    dst.write(f"P14{i + 1:02d}-{line}")
            with open(path, encoding="utf-8") as f:
                paid = sum((Decimal(r["paid"]) for r in csv.DictReader(f)), Decimal(0))
            files[(i, y)] = (path, paid)
    raw.unlink(missing_ok=True)
    return files


def _per_capita(paid, insured: int) -> str:
    """The per-capita premium that puts the year's claims at about 90% of the premium (a surplus to settle)."""
    from decimal import ROUND_UP, Decimal

    return str(max(Decimal("0.01"), (paid / Decimal("0.9") / insured).quantize(Decimal("0.01"), rounding=ROUND_UP)))


def _settle(p: dict, contract, year: int) -> None:
    from reconciliation.services import (
        settlement_draft,
        settlement_insurer_approve,
        settlement_insurer_prepare,
        settlement_post,
        settlement_review,
    )

    maker, checker = p["fund_people"]
    imaker, ichecker = p["insurer_people"][contract.insurer_id]
    cy = contract.years.get(year=year)
    # After the March 31 cut-off, on the last day of June: the month's claims vouchers are dated its last day.
    on = date(year + 1, 6, 30)
    s = settlement_draft(contract_year=cy, as_of=on, user=maker, unpaid_reason=UNPAID)
    s = settlement_review(settlement=s, user=checker)
    s = settlement_post(settlement=s, on=on, user=checker)
    if any(not e.is_posted for e in settlement_insurer_prepare(settlement=s, user=imaker)):
        settlement_insurer_approve(settlement=s, user=ichecker)


def _close(p: dict, years: int) -> int:
    from accounts.models import Book
    from ledger.closing import year_end_close, year_end_prepare

    closed = 0
    for y in range(YEAR0, YEAR0 + years):
        for book in Book.objects.order_by("code"):
            maker, checker = (p["fund_people"] if book.fund_id else p["insurer_people"][book.insurer_id])
            year_end_prepare(book=book, year=y, by=maker)
            year_end_close(book=book, year=y, by=checker)
            closed += 1
    return closed


# -- the workers ------------------------------------------------------------------------------------------


def _verify_on_workers(w: Workers) -> dict:
    from ledger.tasks import verify_nightly

    outcome = verify_nightly.apply_async(queue=w.queue).get(timeout=3600)
    assert outcome["ok"], outcome
    return outcome


def _statements_on_workers(w: Workers, year: int, only: str) -> dict:
    """Every statement kind of every book for the year, as jobs the workers render; a kind a book has
    nothing for (a bank reconciliation without a bank statement) is refused by its job and counted apart."""
    from accounts.models import Book
    from reports.models import ReportJob
    from reports.registry import KINDS
    from reports.tasks import render_report

    # Kind by kind (a kind cut into parts last: its parts queue behind whatever was sent before them), so each
    # kind's share of the wall time reads, roughly, as the time between its last job's end and the previous one's.
    wanted = list(KINDS) if only == "all" else [k for k in KINDS if k in only.split(",")]
    kinds = sorted(wanted, key=lambda k: (KINDS[k].split is not None, list(KINDS).index(k)))
    jobs = {}
    for kind in kinds:
        for book in Book.objects.order_by("code"):
            month = 12 if kind == "bank-reconciliation" else None  # issued month by month: its December
            job = ReportJob.objects.create(kind=kind, book=book, year=year, month=month, requested_by="bench")
            render_report.apply_async(args=[job.pk], queue=w.queue)
            jobs[job.pk] = kind
    t0 = time.monotonic()
    pending = ReportJob.objects.filter(pk__in=jobs).exclude(status__in=("done", "failed"))
    while pending.exists():
        if time.monotonic() - t0 > 7200:
            raise RuntimeError(f"statements still rendering after 2 h: {w.tail()}")
        time.sleep(0.5)
    rows = list(ReportJob.objects.filter(pk__in=jobs).values_list("book_id", "kind", "status", "error", "requested_at",
                                                                   "finished_at"))
    start = min(r[4] for r in rows)
    last_end, kind_s, previous = {}, {}, start
    for _b, kind, _s, _e, _r, finished in rows:
        if finished is not None and (kind not in last_end or finished > last_end[kind]):
            last_end[kind] = finished
    for kind in kinds:
        if kind in last_end:
            kind_s[kind] = round(max(0.0, (last_end[kind] - previous).total_seconds()), 1)
            previous = max(previous, last_end[kind])
    failed = {}
    for _b, kind, status, error, _r, _f in rows:
        if status == "failed":
            failed.setdefault(kind, []).append(error[:160])
    done = [(b, k) for b, k, status, _e, _r, _f in rows if status == "done"]
    return {"jobs": len(rows), "done": len(done), "done_by_kind": sorted({k for _b, k in done}),
            "refused": {k: {"count": len(v), "first": v[0]} for k, v in failed.items()},
            "kind_wall_s_approx": kind_s, "done_jobs": done}


def _chain_selects(book_year_kinds: list[tuple]) -> list[str]:
    """What each chain statement reads, plainly: the book's entries of the year and their postings."""
    from reports.registry import KINDS

    selects = []
    for book_id, kind, year in book_year_kinds:
        if not KINDS[kind].from_chain:
            continue
        entries = f"SELECT id FROM ledger_journalentry WHERE book_id = {int(book_id)} AND fiscal_year = {int(year)}"
        selects.append(f"SELECT * FROM ledger_journalentry WHERE book_id = {int(book_id)} AND fiscal_year = {int(year)}")
        selects.append(f"SELECT * FROM ledger_posting WHERE entry_id IN ({entries})")
    return selects


# -- the run ----------------------------------------------------------------------------------------------


def run(*, province_funds: int, province_insurers: int, province_insured: int, province_claims: int,
        province_years: int, province_workers: int, province_kinds: str = "all", **options) -> dict:
    from claims.models import Claim
    from claims.services import claims_import, claims_post, claims_recompute
    from contracts.models import ContractYear

    funds, years = province_funds, province_years
    per_city = max(1, province_claims // funds)
    t_all = time.perf_counter()
    stages = Stages()
    with tempfile.TemporaryDirectory(prefix="bench-province-") as tmp:
        t = time.perf_counter()
        files = _claim_files(funds, per_city, years, Path(tmp))
        generate_s = time.perf_counter() - t
        t = time.perf_counter()
        p = _province(funds, province_insurers, province_insured, years, files)
        setup_s = time.perf_counter() - t

        stages.write_stage("premium_transfers", lambda: sum(_transfers(p, y) for y in range(YEAR0, YEAR0 + years)))

        def imports():
            batches = []
            for (i, _y), (path, _paid) in sorted(files.items(), key=lambda item: (item[0][1], item[0][0])):
                contract = p["contracts"][i]
                imaker, _ = p["insurer_people"][contract.insurer_id]
                batches.append((contract, claims_import(path=path, contract=contract, by=imaker).batch))
            return batches

        batches = stages.write_stage("claims_import", imports)
    claims_n = Claim.objects.count()
    stages.write_stage("claims_recompute",
                       lambda: sum(claims_recompute(contract_year=cy) for cy in ContractYear.objects.order_by("year", "pk")),
                       rewrite={Claim._meta.db_table: "1 = 1"})

    def post():
        n = 0
        for contract, batch in batches:  # year by year: each book's months fill in date order
            n += claims_post(batch=batch, reviewed_by=p["insurer_people"][contract.insurer_id][1])
        return n

    stages.write_stage("claims_post", post)
    stages.write_stage("settlement", lambda: [_settle(p, c, y) for y in range(YEAR0, YEAR0 + years)
                                              for c in p["contracts"]])
    stages.write_stage("year_end_close", lambda: _close(p, years))

    from accounts.models import Book

    # The night's reading runs hours after the day's imports, once autovacuum has analysed what they wrote;
    # straight after them the planner would still see the tables as empty (nested loops over a million rows).
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    analyze_s = time.perf_counter() - t
    workers = Workers(province_workers)
    try:
        t = time.perf_counter()
        workers.wait_ready()
        workers_start_s = time.perf_counter() - t
        verified = stages.read_stage("verify_ledger", lambda: _verify_on_workers(workers), [
            "SELECT * FROM ledger_journalentry WHERE status = 'posted'", "SELECT * FROM ledger_posting",
            "SELECT * FROM ledger_accountbalance"])
        last = YEAR0 + years - 1
        statements = stages.read_stage("statements", lambda: _statements_on_workers(workers, last, province_kinds),
                                       lambda out: _chain_selects([(b, k, last) for b, k in out["done_jobs"]]))
    finally:
        workers.stop()
    statements.pop("done_jobs")
    figures = stages.figures
    total = sum(f["seconds"] for f in figures.values())
    total_base = sum(f["baseline_s"] for f in figures.values())
    from ledger.models import JournalEntry, Posting

    return {"province": {
        "database": connection.vendor, "cpu_count": os.cpu_count(),
        "sizes": {"funds": funds, "insurers": province_insurers, "insured": province_insured,
                  "claims_per_year": per_city * funds, "years": years, "workers": province_workers,
                  "statement_kinds": province_kinds,
                  "books": Book.objects.count(), "claims": claims_n, "entries": JournalEntry.objects.count(),
                  "postings": Posting.objects.count()},
        "stages": figures,
        "totals": {"seconds": round(total, 1), "baseline_s": round(total_base, 2),
                   "ratio": round(total / total_base, 1) if total_base else None},
        "verify": verified, "statements": statements,
        "untimed": {"setup_s": round(setup_s, 1), "claims_files_s": round(generate_s, 1),
                    "workers_start_s": round(workers_start_s, 1),
                    "analyze_s": round(analyze_s, 1)},
        "wall_s": round(time.perf_counter() - t_all, 1),
    }}
