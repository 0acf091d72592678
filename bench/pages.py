"""Admin pages at a province's size: p50/p95 of each first page a person opens, on a loaded scratch database.

The rows are loaded by COPY (core.bulk.rows_insert), not through the posting service: the benchmark measures
reads. They are still valid books (balanced posted entries, unique voucher numbers, AccountBalance equal to
the postings). On PostgreSQL the load runs with `session_replication_role = replica` (scratch database
only: row triggers and foreign-key checks off while loading, the data being valid by construction); on
SQLite entries are inserted as drafts and posted by one UPDATE per chunk, which the guards check.
"""

import statistics
import sys
import time
from datetime import date, timedelta
from importlib import import_module

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Book
from accounts.services import account_create, book_create, fund_ensure, insurer_ensure, region_ensure
from core.bulk import rows_insert

FIRST_YEAR = 2019
YEARS = 5
FUND_BOOKS = 16
INSURER_BOOKS = 3
HOSPITALS = 300
CITIES = ["长春", "吉林", "四平", "辽源", "通化", "白山", "松原", "白城", "延边", "梅河口", "公主岭", "长白山",
          "珲春", "敦化", "扶余", "洮南"]
FUND_MEMOS = ["收到{city}市城乡居民医保基金划入大病保险资金", "向承办机构拨付{city}市大病保险保费第{k}期",
              "{city}市大病保险资金利息收入", "支付{city}市大病保险结算款", "{city}市困难群众大病保险倾斜支付"]
INSURER_MEMOS = ["支付{hospital}大病保险赔款 第{k}批", "收到{city}市医保局大病保险保费", "{hospital}直接结算赔付",
                 "计提{city}市大病保险未决赔款准备金", "支付{city}市大病保险经办费用", "手工报销赔付 {hospital}"]
AUDIT_ACTIONS = ["entry_posted", "draft_saved", "login", "imported", "report_downloaded", "entries_posted",
                 "period_closed", "access_refused", "logout", "report_issued"]
PASSWORD = "Bench-Pages-7q!Lx2"


def add_arguments(parser):
    parser.add_argument("--pages-postings", type=int, default=10_000_000,
                        help="postings to load for the pages benchmark (default 10000000)")
    parser.add_argument("--pages-claims", type=int, default=5_000_000,
                        help="claims to load for the pages benchmark (default 5000000)")
    parser.add_argument("--pages-audit", type=int, default=None,
                        help="audit events to load (default: postings / 7)")
    parser.add_argument("--pages-requests", type=int, default=20, help="timed requests per page (default 20)")


# -- the data set ---------------------------------------------------------------------------------------------


def _people():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="pages-admin", defaults={
        "last_name": "基准", "first_name": "管理员", "is_superuser": True, "is_staff": True})
    maker, _ = User.objects.get_or_create(username="pages-maker", defaults={
        "last_name": "张", "first_name": "会计", "is_superuser": True, "is_staff": True})
    checker, _ = User.objects.get_or_create(username="pages-checker", defaults={
        "last_name": "李", "first_name": "审核", "is_superuser": True, "is_staff": True})
    return admin, maker, checker


def _books():
    from ledger.services import fiscal_year_open

    province = region_ensure(code="22", name="吉林省", level="province")
    books = []
    for i in range(FUND_BOOKS):
        city = region_ensure(code=f"22{i + 1:02d}", name=f"{CITIES[i]}市", level="city", parent=province)
        fund = fund_ensure(code=f"F-22{i + 1:02d}", name=f"{CITIES[i]}市大病保险资金", region=city)
        books.append(book_create(code=f"FUND-22{i + 1:02d}", name=f"{CITIES[i]}市大病保险基金账", fund=fund))
    for i in range(INSURER_BOOKS):
        insurer = insurer_ensure(code=f"INS-P{i + 1}", name=f"基准保险公司吉林分公司{i + 1}")
        book = book_create(code=f"INS-P{i + 1}", name=f"基准保险公司{i + 1}大病保险专账", insurer=insurer)
        account_create(book=book, parent_code="224102", code="22410201", name="定点医疗机构")
        for h in range(1, 61):
            account_create(book=book, parent_code="22410201", code=f"22410201{h:02d}", name=f"定点医院{h:02d}")
        books.append(book)
    for book in books:
        for y in range(FIRST_YEAR, FIRST_YEAR + YEARS):
            fiscal_year_open(book=book, year=y)
    return books


def _month_days(year, month):
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - date(year, month, 1)).days


def _load_ledger(books, n_postings, maker, checker, now):
    """≈ n_postings postings in ≈ n_postings / 2.38 entries; the first insurer book is the busiest (40 %)."""
    from ledger.models import AccountBalance, JournalEntry, Period, Posting

    ops = connection.ops
    pg = connection.vendor == "postgresql"
    n_entries = max(len(books) * YEARS * 12, int(n_postings / 2.375))
    busiest = books[FUND_BOOKS]
    weights = {b.pk: (0.40 if b.pk == busiest.pk else 0.60 / (len(books) - 1)) for b in books}
    next_id = (JournalEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    posting_id = 1
    hospitals = [f"{CITIES[h % 16]}市第{h // 16 + 1}人民医院" for h in range(HOSPITALS)]
    e_cols = ("id", "book_id", "period_id", "date", "fiscal_year", "number", "month_number", "seq", "status", "memo",
              "source", "content_digest", "made_by_id", "reviewed_by_id", "created_at", "posted_at", "prev_hash",
              "hash")
    p_cols = ("id", "entry_id", "book_id", "line", "account_id", "debit_fen", "credit_fen", "memo", "counterparty")
    made = 0
    posted_at = ops.adapt_datetimefield_value(now)
    for book in books:
        leaves = list(Account.objects.filter(book=book, children__isnull=True).order_by("code"))
        bank = next(a for a in leaves if a.code.startswith("1002"))
        others = [a for a in leaves if a.pk != bank.pk]
        periods = {(p.year, p.month): p.pk for p in Period.objects.filter(book=book)}
        per_month = max(1, int(n_entries * weights[book.pk] / (YEARS * 12)))
        memos = INSURER_MEMOS if book.kind == Book.Kind.INSURER else FUND_MEMOS
        seq = 0
        balances = {}
        for y in range(FIRST_YEAR, FIRST_YEAR + YEARS):
            number = 0
            for m in range(1, 13):
                period = periods[(y, m)]
                days = _month_days(y, m)
                e_rows, p_rows = [], []
                for k in range(per_month):
                    i = made + k
                    seq += 1
                    number += 1
                    day = date(y, m, 1 + k * days // per_month)
                    h = hospitals[i % HOSPITALS]
                    memo = memos[i % len(memos)].format(city=CITIES[i % 16], hospital=h, k=i % 97 + 1)
                    e_rows.append((next_id, book.pk, period, ops.adapt_datefield_value(day), y, number, k + 1, seq,
                                   "posted" if pg else "draft", memo, "bench", "", maker.pk, checker.pk, posted_at,
                                   posted_at if pg else None, f"{next_id - 1:064x}" if seq > 1 else "", f"{next_id:064x}"))
                    a1 = others[(i * 7) % len(others)]
                    amount = 10_000 + (i * 7919) % 5_000_000
                    lines = [(a1, amount, 0)]
                    if i % 8 < 3:  # a third line: ≈ 2.375 lines per voucher, as the province's books have
                        a2 = others[(i * 13 + 5) % len(others)]
                        extra = 500 + (i * 104729) % 200_000
                        lines.append((a2, extra, 0))
                        amount += extra
                    lines.append((bank, 0, amount))
                    if i % 2:  # receipts as often as payments: the bank on the debit side
                        lines = [(a, c, d) for a, d, c in lines]
                    for n, (acc, d, c) in enumerate(lines, start=1):
                        cp = h if acc.code.startswith("2241") or acc.pk == bank.pk else ""
                        p_rows.append((posting_id, next_id, book.pk, n, acc.pk, d, c,
                                       "" if n > 1 else memo[:40], cp))
                        posting_id += 1
                        bd = balances.setdefault((acc.pk, period), [0, 0])
                        bd[0] += d
                        bd[1] += c
                    next_id += 1
                made += per_month
                rows_insert(JournalEntry._meta.db_table, e_cols, e_rows)
                rows_insert(Posting._meta.db_table, p_cols, p_rows)
                if not pg:  # the guards check each voucher's balance as it turns posted
                    with connection.cursor() as cursor:
                        cursor.execute(f"UPDATE {JournalEntry._meta.db_table} SET status = 'posted', posted_at = %s "
                                       "WHERE id >= %s", [posted_at, e_rows[0][0]])
        rows_insert(AccountBalance._meta.db_table, ("book_id", "account_id", "period_id", "debit_fen", "credit_fen"),
                    [(book.pk, a, p, d, c) for (a, p), (d, c) in balances.items()])
    if pg:
        with connection.cursor() as cursor:
            for table in (JournalEntry._meta.db_table, Posting._meta.db_table):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
    return made, posting_id - 1, busiest


def _load_claims(books, n_claims, maker, checker, now):
    from claims.models import Claim, ClaimBatch, Hospital
    from contracts.services import contract_create, contract_year_create

    ops = connection.ops
    insurers = [b for b in books if b.kind == Book.Kind.INSURER]
    fund = books[0].fund
    Hospital.objects.bulk_create([Hospital(code=f"H{h:04d}", name=f"{CITIES[h % 16]}市第{h // 16 + 1}人民医院")
                                  for h in range(HOSPITALS)])
    hospital_ids = list(Hospital.objects.order_by("code").values_list("id", flat=True))
    groups = ["urban_rural", "low_income", "extreme_poor", "disabled"]
    channels = ["direct", "direct", "direct", "manual", "advance"]
    per = max(1, n_claims // (len(insurers) * YEARS))
    cols = ("batch_id", "book_id", "contract_year_id", "charged_to_id", "claim_no", "person", "group_code",
            "admitted_on", "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel",
            "expected_fen", "due_on")
    n = 0
    years = []
    for b, book in enumerate(insurers):
        contract = contract_create(code=f"PAGES-{b + 1}", name=f"吉林省大病保险合同 {b + 1}", fund=fund,
                                   insurer=book.insurer, first_year=FIRST_YEAR, last_year=FIRST_YEAR + YEARS - 1)
        for y in range(FIRST_YEAR, FIRST_YEAR + YEARS):
            cy = contract_year_create(contract=contract, year=y, per_capita="85", insured_count=20_000_000,
                                      tranches=[{"due": f"{y}-04-30", "cumulative_pct": "100"}],
                                      benefit_policy="shanxi-2019")
            years.append(cy)
            batch = ClaimBatch.objects.create(contract=contract, book=book, file_name=f"claims-{y}-{b + 1}.csv",
                                              file_sha256=f"{b:02d}{y:04d}".ljust(64, "0"), rows=per,
                                              oop_total=0, paid_total=0, status=ClaimBatch.Status.POSTED, prepared_by=maker,
                                              reviewed_by=checker, posted_at=now)
            rows, oop_sum, paid_sum = [], 0, 0
            for k in range(per):
                i = n + k
                settled = date(y, 1, 1) + timedelta(days=k * 364 // per)
                discharged = settled - timedelta(days=i % 20)
                admitted = discharged - timedelta(days=3 + i % 30)
                oop = 1_000_000 + (i * 7919) % 30_000_000
                expected = oop // 2
                paid = max(0, expected + (((i * 31) % 9_000) - 4_500 if i % 50 == 0 else 0))  # 2 %: not as due
                oop_sum, paid_sum = oop_sum + oop, paid_sum + paid
                rows.append((batch.pk, book.pk, cy.pk, cy.pk, f"{y}{b + 1}{k:09d}", f"{(i * 2654435761) % 10**16:016x}",
                             groups[i % 4], ops.adapt_datefield_value(admitted),
                             ops.adapt_datefield_value(discharged), ops.adapt_datefield_value(settled),
                             hospital_ids[i % HOSPITALS], oop, paid, channels[i % 5], expected, None))
                if len(rows) >= 50_000:
                    rows_insert(Claim._meta.db_table, cols, rows)
                    rows = []
            rows_insert(Claim._meta.db_table, cols, rows)
            ClaimBatch.objects.filter(pk=batch.pk).update(oop_total=oop_sum, paid_total=paid_sum)
            n += per
    return n, years


def _load_audit(books, n_events, now):
    from audit.models import AuditEvent

    ops = connection.ops
    pg = connection.vendor == "postgresql"
    codes = [b.code for b in books]
    span = YEARS * 365 * 86400 if pg else 200  # SQLite's guard takes only events of the last minutes
    cols = ("at", "actor", "action", "outcome", "object_type", "object_id", "object_repr", "book_code", "digest", "ip",
            "detail")
    rows = []
    for i in range(n_events):
        at = now - timedelta(seconds=span * (n_events - i) / n_events)
        action = AUDIT_ACTIONS[i % len(AUDIT_ACTIONS)]
        rows.append((ops.adapt_datetimefield_value(at), f"user{i % 40:02d}", action,
                     "refused" if action == "access_refused" else "ok", "ledger.journalentry", str(i + 1),
                     f"记-{FIRST_YEAR + i % YEARS}-{i % 12 + 1:02d}-{i % 9000 + 1:04d}", codes[i % len(codes)], "",
                     "10.0.0.1", "{}"))
        if len(rows) >= 50_000:
            rows_insert(AuditEvent._meta.db_table, cols, rows)
            rows = []
    rows_insert(AuditEvent._meta.db_table, cols, rows)


def load(*, postings: int, claims: int, audit: int) -> dict:
    admin, maker, checker = _people()
    now = timezone.now()
    pg = connection.vendor == "postgresql"
    t0 = time.perf_counter()
    books = _books()
    setup_s = time.perf_counter() - t0
    t = time.perf_counter()
    with transaction.atomic():
        if pg:
            with connection.cursor() as cursor:  # scratch database only: see the module's docstring
                cursor.execute("SET LOCAL session_replication_role = replica")
        entries, n_postings, busiest = _load_ledger(books, postings, maker, checker, now)
        if pg:
            # The lines' counterparty names, which the triggers turned off here would have kept.
            with connection.cursor() as cursor:
                cursor.execute(import_module("ledger.migrations.0020_counterparty_names").FILL)
        ledger_s = time.perf_counter() - t
        t = time.perf_counter()
        n_claims, years = _load_claims(books, claims, maker, checker, now)
        claims_s = time.perf_counter() - t
        t = time.perf_counter()
        _load_audit(books, audit, now)
        audit_s = time.perf_counter() - t
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    analyze_s = time.perf_counter() - t
    return {"books": books, "busiest": busiest, "contract_years": years, "figures": {
        "pages_entries": entries, "pages_postings": n_postings, "pages_claims": n_claims, "pages_audit": audit,
        "pages_setup_s": round(setup_s, 1), "pages_load_ledger_s": round(ledger_s, 1),
        "pages_load_claims_s": round(claims_s, 1), "pages_load_audit_s": round(audit_s, 1),
        "pages_analyze_s": round(analyze_s, 1),
        "pages_load_s": round(time.perf_counter() - t0, 1)}}


# -- the timing -------------------------------------------------------------------------------------------------


def _pages(data) -> list[tuple[str, str]]:
    from django.db.models import Count

    from claims.models import Claim
    from ledger.models import JournalEntry, Posting, voucher_label

    busiest = data["busiest"]
    year = FIRST_YEAR + YEARS - 1
    entry = JournalEntry.objects.filter(book=busiest, fiscal_year=year).order_by("id").values("pk", "number",
                                                                                            "month_number", "date").first()
    voucher = voucher_label(year, entry["date"].month, entry["number"], entry["month_number"])
    account = (Posting.objects.filter(book=busiest).values("account__code").order_by()
               .annotate(n=Count("id")).order_by("-n")
               .first()["account__code"])
    cy = data["contract_years"][YEARS - 1]  # the busiest book's latest contract year
    claim_no = Claim.objects.filter(contract_year=cy).order_by("id").values_list("claim_no", flat=True).last()
    je = reverse("admin:ledger_journalentry_changelist")
    claims = reverse("admin:claims_claim_changelist")
    audit = reverse("admin:audit_auditevent_changelist")
    book = reverse("admin:accounts_book_trial_balance", args=[busiest.pk])
    ledger = reverse("admin:accounts_book_ledger", args=[busiest.pk])
    return [
        ("vouchers", je),
        ("vouchers_search_memo", je + "?q=直接结算"),
        ("vouchers_search_voucher", je + "?q=" + voucher),
        ("vouchers_search_account", je + "?q=2241020107"),
        ("vouchers_search_counterparty", je + "?q=" + "白山市第3人民医院"),
        # In every hospital's name: millions of lines (160-220 s a page before counterparty names were kept).
        ("vouchers_search_counterparty_broad", je + "?q=" + "人民医院"),
        ("vouchers_filtered", je + f"?book__id__exact={busiest.pk}&fiscal_year={year}&status__exact=posted"),
        ("voucher_change", reverse("admin:ledger_journalentry_change", args=[entry["pk"]])),
        ("trial_balance", book + f"?year={year}"),
        ("account_ledger", ledger + f"?year={year}&account={account}"),
        ("claims", claims),
        ("claims_year", claims + f"?contract_year__id__exact={cy.pk}"),
        ("claims_search", claims + f"?q={claim_no}"),
        ("discrepancies", reverse("admin:claims_claim_report", args=[cy.pk])),
        ("audit", audit),
        ("audit_action", audit + "?action__exact=entry_posted"),
        ("audit_book", audit + f"?book_code={busiest.code}"),
    ]


def _time(client, url, n) -> dict:
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    queries = []
    # Counted at the cursor: the request's own start resets Django's query log.
    with connection.execute_wrapper(lambda execute, sql, *args: (queries.append(sql), execute(sql, *args))[1]):
        client.get(url)
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        client.get(url)
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50": round(statistics.median(ms), 1), "p95": round(ms[max(0, int(len(ms) * 0.95 + 0.5) - 1)], 1),
            "queries": len(queries)}


def run(*, pages_postings: int, pages_claims: int, pages_audit: int | None = None, pages_requests: int = 20,
        **options) -> dict:
    from django.contrib.auth import get_user_model

    from access.services import user_create

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
    data = load(postings=pages_postings, claims=pages_claims,
                audit=pages_audit if pages_audit is not None else pages_postings // 7)
    figures = dict(data["figures"])
    figures["pages_database"] = connection.vendor
    admin = get_user_model().objects.get(username="pages-admin")
    accountant = user_create(username="pages-accountant", password=PASSWORD, role="insurer_accountant",
                             insurers=[data["busiest"].insurer.code], full_name="王会计")
    pages = _pages(data)
    table = {}
    for who, user in (("admin", admin), ("accountant", accountant)):
        client = Client()
        client.force_login(user)
        for name, url in pages:
            if who == "accountant" and name.startswith("audit"):
                continue  # the trail is the auditors' and administrators'
            t = _time(client, url, pages_requests)
            table[f"{who}:{name}"] = t
    reset_queries()
    figures["pages"] = table
    figures["pages_worst_p95_ms"] = max(v["p95"] for v in table.values())
    lines = [f"{k:<40} p50 {v['p50']:>8.1f} ms  p95 {v['p95']:>8.1f} ms  {v['queries']:>3} queries"
             for k, v in table.items()]
    print("\n".join(lines), file=sys.stderr)  # stdout carries the figures (--json)
    return figures
