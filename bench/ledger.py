"""Posting throughput, the trial balance, and a plain bulk insert of the same rows.

N balanced entries of 2–4 postings each go through the real posting service in
import-sized batches into one insurer book (claims accrued to hospital sub-accounts,
hospitals paid, premium received, costs), dated across a year.
"""

import random
import resource
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from django.apps.registry import Apps
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.services import account_create, book_create, fund_ensure, insurer_ensure, region_ensure
from core.bulk import rows_insert
from core.money import to_fen
from ledger import services as ledger_services
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry, Period, Posting
from ledger.opening import opening_approve, opening_save
from ledger.selectors import trial_balance
from ledger.services import EntrySpec, Line, entries_post_many, fiscal_year_open

YEAR = 2019
BATCH = 5000
HOSPITALS = 20


def _yuan(rng: random.Random, median: float, spread: float = 1.0) -> str:
    # Log-normal amounts in fen, as hospital bills are; formatted as yuan text.
    fen = max(1, int(rng.lognormvariate(0, spread) * median * 100))
    return f"{fen // 100}.{fen % 100:02d}"


def _entries(n: int, seed: int = 20191130) -> list[EntrySpec]:
    rng = random.Random(seed)
    start = date(YEAR, 1, 1)
    hospitals = [f"22410201{h:02d}" for h in range(1, HOSPITALS + 1)]
    specs = []
    for i in range(n):
        when = start + timedelta(days=rng.randrange(365))
        kind = rng.random()
        if kind < 0.55:
            amt = _yuan(rng, 9000)
            lines = [Line("6511", debit=amt), Line(rng.choice(hospitals), credit=amt)]
            memo = "结算大病保险赔款"
        elif kind < 0.85:
            a, b = _yuan(rng, 250000), _yuan(rng, 250000)
            h1, h2 = rng.sample(hospitals, 2)
            total = f"{(int(a.replace('.', '')) + int(b.replace('.', ''))) / 100:.2f}"
            lines = [Line(h1, debit=a), Line(h2, debit=b), Line("1002", credit=total)]
            memo = "按月预拨定点医疗机构赔款"
        elif kind < 0.95:
            amt = _yuan(rng, 2000000)
            lines = [Line("1002", debit=amt), Line("6031", credit=amt)]
            memo = "收到大病保险保费"
        else:
            c1, c2 = _yuan(rng, 30000), _yuan(rng, 5000)
            total1 = _yuan(rng, 20000)
            rest = (int(c1.replace(".", "")) + int(c2.replace(".", ""))) - int(total1.replace(".", ""))
            if rest <= 0:
                lines = [Line("6602", debit=c1), Line("1002", credit=c1)]
            else:
                lines = [Line("6602", debit=c1), Line("6502", debit=c2), Line("1002", credit=total1),
                         Line("224199", credit=f"{rest / 100:.2f}")]
            memo = "业务及管理费、提取准备金"
        specs.append(EntrySpec(date=when, lines=lines, memo=f"{memo} {i + 1}", idempotency_key=f"bench-{i + 1}"))
    # Imported in date order, as a year's vouchers are (each month's 凭证号 run in date order: 序时控制).
    specs.sort(key=lambda s: s.date)
    return specs


def signers() -> dict:
    """The two named people every benchmark voucher is prepared and approved by (the ledger posts nothing
    without them), administrators of the scratch database, so every book is theirs to sign."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    people = []
    for username, family, given in (("bench-maker", "基准", "制单"), ("bench-checker", "基准", "审核")):
        user, _ = User.objects.get_or_create(username=username, defaults={
            "last_name": family, "first_name": given, "is_superuser": True, "is_staff": True})
        people.append(user)
    return {"made_by": people[0], "reviewed_by": people[1]}


def _book(code: str):
    region = region_ensure(code="22", name="吉林省", level="province")
    fund_ensure(code="F-22", name="吉林省大病保险资金", region=region)
    insurer = insurer_ensure(code=f"INS-{code}", name=f"基准测试保险公司 {code}")
    book = book_create(code=code, name=f"基准测试专账 {code}", insurer=insurer)
    account_create(book=book, parent_code="224102", code="22410201", name="定点医疗机构")
    for h in range(1, HOSPITALS + 1):
        account_create(book=book, parent_code="22410201", code=f"22410201{h:02d}", name=f"定点医院{h:02d}")
    fiscal_year_open(book=book, year=YEAR)
    # 建账: head-office working capital, so that 1002 (不允许赤字) never runs dry under random payments.
    people = signers()
    opening_save(book=book, as_of=date(YEAR, 1, 1), by=people["made_by"],
                 balances={"1002": ("10000000000.00", None), "224199": (None, "10000000000.00")})
    opening_approve(book=book, by=people["reviewed_by"])
    return book


def _baseline_raw(specs: list[EntrySpec]) -> float:
    """The same entry and posting rows by the same bulk path (COPY / multi-row INSERT), nothing else.

    Same tables, indexes and insert triggers; no checks, numbers, hashes, posting
    update or balances: what remains of our time above this is the ledger's own work.
    """
    book = _book("BASELINE-RAW")
    accounts = dict(book.accounts.values_list("code", "id"))
    periods = {p.month: p.pk for p in Period.objects.filter(book=book)}
    ops = connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    t0 = time.perf_counter()
    with transaction.atomic():
        for i in range(0, len(specs), BATCH):
            chunk = specs[i:i + BATCH]
            rows_insert(
                JournalEntry._meta.db_table,
                ("book_id", "period_id", "date", "fiscal_year", "seq", "status", "memo", "source", "idempotency_key",
                 "content_digest", "created_at", "prev_hash", "hash"),
                [(book.pk, periods[s.date.month], ops.adapt_datefield_value(s.date), YEAR, i + k + 1, "draft",
                  s.memo, "bench", s.idempotency_key, "", now, "", "") for k, s in enumerate(chunk)],
            )
            ids = dict(JournalEntry.objects.filter(book=book, seq__gt=i).values_list("seq", "id"))
            rows_insert(
                Posting._meta.db_table,
                ("entry_id", "book_id", "line", "account_id", "debit_fen", "credit_fen", "memo", "counterparty"),
                [(ids[i + k + 1], book.pk, n, accounts[ln.account], to_fen(ln.debit or 0), to_fen(ln.credit or 0),
                  "", "") for k, s in enumerate(chunk) for n, ln in enumerate(s.lines, start=1)],
            )
    return time.perf_counter() - t0


def _baseline_orm(specs: list[EntrySpec]) -> float:
    """The same rows through Django's bulk_create, as a plain ORM import would write them."""
    book = _book("BASELINE-ORM")
    accounts = dict(book.accounts.values_list("code", "id"))
    periods = {p.month: p for p in Period.objects.filter(book=book)}
    t0 = time.perf_counter()
    with transaction.atomic():
        for i in range(0, len(specs), BATCH):
            chunk = specs[i:i + BATCH]
            entries = JournalEntry.objects.bulk_create([
                JournalEntry(book=book, period=periods[s.date.month], date=s.date, fiscal_year=YEAR, memo=s.memo,
                             idempotency_key=s.idempotency_key, content_digest="")
                for s in chunk
            ])
            Posting.objects.bulk_create([
                Posting(entry=e, book=book, line=n, account_id=accounts[ln.account], debit=ln.debit or 0,
                        credit=ln.credit or 0)
                for e, s in zip(entries, chunk, strict=True)
                for n, ln in enumerate(s.lines, start=1)
            ], batch_size=BATCH)
    return time.perf_counter() - t0


class BareLeg(models.Model):
    """A posting leg in a bare table: an id and the columns, no constraint, index or trigger.

    Registered in an app registry of its own, so it is never part of the project's models or migrations;
    the benchmark creates its table in the scratch database and drops it after."""

    entry = models.IntegerField()
    line = models.IntegerField()
    account_id = models.IntegerField()
    debit = models.DecimalField(max_digits=18, decimal_places=2)
    credit = models.DecimalField(max_digits=18, decimal_places=2)
    memo = models.CharField(max_length=300, blank=True, default="")
    counterparty = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        app_label = "ledger"
        apps = Apps()
        managed = False
        db_table = "bench_bare_leg"


def _baseline_bare(specs: list[EntrySpec], accounts: dict) -> float:
    """The same legs (Decimal yuan) into the bare table by Model.objects.bulk_create, batch by batch as
    posting goes, in one transaction: the floor a plain Django import of these rows stands on."""
    zero = Decimal("0.00")
    legs = [(i + 1, n, accounts[ln.account], Decimal(ln.debit) if ln.debit else zero,
             Decimal(ln.credit) if ln.credit else zero, ln.memo, ln.counterparty)
            for i, s in enumerate(specs) for n, ln in enumerate(s.lines, start=1)]
    with connection.schema_editor() as editor:
        editor.create_model(BareLeg)
    try:
        t0 = time.perf_counter()
        with transaction.atomic():
            at = 0
            for i in range(0, len(specs), BATCH):
                count = sum(len(s.lines) for s in specs[i:i + BATCH])
                BareLeg.objects.bulk_create([
                    BareLeg(entry=e, line=n, account_id=a, debit=dr, credit=cr, memo=m, counterparty=cp)
                    for e, n, a, dr, cr, m, cp in legs[at:at + count]
                ], batch_size=BATCH)
                at += count
        elapsed = time.perf_counter() - t0
        assert BareLeg.objects.count() == len(legs)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(BareLeg)
    return elapsed


def run(*, n: int, **options) -> dict:
    specs = _entries(n)
    postings = sum(len(s.lines) for s in specs)
    book = _book("BENCH")
    signed = signers()
    ledger_services.SEAL_CLOCK[0] = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, n, BATCH):
        entries_post_many(book=book, entries=specs[i:i + BATCH], source="bench", **signed)
    post_s, post_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    seal_s = ledger_services.SEAL_CLOCK[0]
    timings = []
    for _ in range(7):
        t = time.perf_counter()
        tb = trial_balance(book=book, year=YEAR)
        timings.append(time.perf_counter() - t)
    assert tb.balanced, "the benchmark book's trial balance must balance"
    t = time.perf_counter()
    verified = ledger_verify(book=book)
    verify_s = time.perf_counter() - t
    assert verified.ok, verified.problems[:5]
    baseline_s = _baseline_raw(specs)
    orm_s = _baseline_orm(specs)
    c0 = time.process_time()
    bare_s = _baseline_bare(specs, dict(book.accounts.values_list("code", "id")))
    bare_cpu_s = time.process_time() - c0
    return {
        "database": connection.vendor,
        "n_entries": n,
        "n_postings": postings,
        "post_s": round(post_s, 3),
        "postings_per_s": round(postings / post_s),
        "entries_per_s": round(n / post_s),
        "trial_balance_s": round(statistics.median(timings), 4),
        "verify_s": round(verify_s, 2),
        "baseline_s": round(baseline_s, 3),
        "baseline_ratio": round(post_s / baseline_s, 2),
        "orm_bulk_create_s": round(orm_s, 3),
        "orm_baseline_ratio": round(post_s / orm_s, 2),
        "bare_bulk_create_s": round(bare_s, 3),
        "bare_postings_per_s": round(postings / bare_s),
        # ≥ 1.0: posting with every control is at least as fast as the bare bulk_create of its legs.
        "posting_vs_bare": round(bare_s / post_s, 2),
        # This process's CPU seconds (on SQLite the database's work too; on PostgreSQL the server's is not
        # in it): steadier than wall time on a shared machine.
        "post_cpu_s": round(post_cpu_s, 3),
        "bare_cpu_s": round(bare_cpu_s, 3),
        "posting_vs_bare_cpu": round(bare_cpu_s / post_cpu_s, 2),
        # Content digests and chain links (ledger.services.SEAL_CLOCK, timed inside the posting path).
        "seal_s": round(seal_s, 3),
        "seal_share": round(seal_s / post_s, 3),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
