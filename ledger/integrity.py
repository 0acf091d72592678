"""verify_ledger: recompute every book's hash chain, numbering and balances from the rows.

This trusts nothing the application wrote about itself: it reads entries and postings,
recomputes each hash, checks each entry's balance and voucher numbering, sums the
postings per account and period and compares them with the balance table.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, Count, Exists, ExpressionWrapper, F, OuterRef, Q

from accounts.models import Account, Book
from core.checkpoints import checkpoint_last

from . import chain
from .guards_check import period_history_problems
from .models import AccountBalance, JournalEntry, Period, Posting, voucher_label

_MAX_PROBLEMS = 200


def _fen(name: str):
    # The integer column itself: adding fen needs no Money conversion per row.
    return ExpressionWrapper(F(name), output_field=BigIntegerField())


@dataclass
class VerifyResult:
    ok: bool = True
    books: int = 0
    entries: int = 0
    postings: int = 0
    problems: list[dict] = field(default_factory=list)
    # Facts an accountant must see that are not breaks: a flagged account on its other side.
    warnings: list[dict] = field(default_factory=list)

    def add(self, book: Book, entry: str, check: str, expected, found) -> None:
        self.ok = False
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append({"book": book.code, "entry": entry, "check": check,
                                  "expected": str(expected), "found": str(found)})


def ledger_verify(*, book: Book | None = None, upto: int | None = None) -> VerifyResult:
    """Every book (or one), against its seal and its last checkpoint; `upto`: only the first `upto` entries
    of the one book's chain (what a statement issued at that position covers)."""
    result = VerifyResult()
    books = [book] if book is not None else list(Book.objects.order_by("code"))
    for b in books:
        b.refresh_from_db()
        _verify_book(b, result, upto)
        result.books += 1
    if book is None:  # the whole ledger: its audit trail too
        from audit.integrity import audit_verify

        for p in audit_verify():
            result.ok = False
            if len(result.problems) < _MAX_PROBLEMS:
                result.problems.append(p)
    return result


def _verify_book(book: Book, result: VerifyResult, upto: int | None = None) -> None:
    codes = dict(Account.objects.filter(book=book).values_list("id", "code"))
    parents = set(Account.objects.filter(book=book, parent__isnull=False).values_list("parent_id", flat=True))
    periods = {p.pk: p for p in Period.objects.filter(book=book)}
    seq_of = dict(JournalEntry.objects.filter(book=book, status="posted").values_list("id", "seq"))
    posted = JournalEntry.objects.filter(book=book, status=JournalEntry.Status.POSTED)
    if upto is not None:
        posted = posted.filter(seq__lte=upto)
    checkpoint, bad_lines = (None, "") if upto is not None else checkpoint_last(book.code)
    if bad_lines:
        result.add(book, "(checkpoints)", "sealed checkpoint lines", "every line sealed by this ledger", bad_lines)
    at_checkpoint = checkpoint["length"] if checkpoint else None

    entries = (
        posted.order_by("seq")
        .values_list("id", "seq", "fiscal_year", "number", "date", "period_id", "memo", "source",
                     "idempotency_key", "reverses_id", "made_by_id", "reviewed_by_id", "content_digest", "prev_hash", "hash",
                     "supervisor_id", "month_number")
        .iterator(chunk_size=5000)
    )
    postings = (
        Posting.objects.filter(book=book, entry__in=posted.values("pk"))
        .order_by("entry__seq", "line")
        .annotate(dr=_fen("debit"), cr=_fen("credit"))
        .values_list("entry_id", "account_id", "dr", "cr", "memo", "counterparty")
        .iterator(chunk_size=20000)
    )
    pending = next(postings, None)
    from .opening import opening_digest_rows

    opening_rows = opening_digest_rows(book)
    sums = defaultdict(lambda: [0, 0])
    numbers = defaultdict(list)
    in_month = defaultdict(list)  # period id -> [(voucher number in the month, date, label)]
    head, expected_seq = "", 0
    checkpoint_state = None  # (link, balances digest) at the checkpoint's length, once reached
    attachments = _attachments(book, result)
    named = set()  # the counterparties the book's lines name, each to be among the names the search reads
    for (eid, seq, year, number, d, period_id, memo, source, key, reverses_id,
         made_by, reviewed_by, stored_content, prev_hash, stored_hash, supervisor, month_number) in entries:
        result.entries += 1
        expected_seq += 1
        label = voucher_label(year, d.month, number, month_number) or "(unnumbered)"
        lines = []
        while pending is not None and pending[0] == eid:
            _, acc_id, dr, cr, pmemo, cp = pending
            lines.append((acc_id, chain.LineContent(codes.get(acc_id, f"?{acc_id}"), dr, cr, pmemo, cp)))
            if cp:
                named.add(cp)
            pending = next(postings, None)
        result.postings += len(lines)
        if seq != expected_seq:
            result.add(book, label, "chain position", expected_seq, seq)
        if prev_hash != head:
            result.add(book, label, "previous hash", head or "(start of chain)", prev_hash)
        period = periods.get(period_id)
        period_label = str(period) if period else "?"
        content = chain.content_digest(entry_date=d, memo=memo, lines=[lc for _, lc in lines])
        recomputed = chain.entry_hash(
            prev_hash=prev_hash, book_code=book.code, seq=seq, fiscal_year=year, number=number,
            period=period_label, source=source, idempotency_key=key,
            reverses=seq_of.get(reverses_id) if reverses_id else None,
            made_by=made_by, reviewed_by=reviewed_by, content=content, supervisor=supervisor,
            attachments=attachments.get(eid, ()), month_number=month_number,
        )
        if recomputed != stored_hash:
            # Without the seal key nobody can make this agree: a changed entry, or a chain re-linked by hand.
            result.add(book, label, "seal (content or chain changed after posting)", stored_hash, recomputed)
        elif content != stored_content:  # only the stored digest was edited: idempotency would misjudge
            result.add(book, label, "content digest", stored_content, content)
        head = stored_hash
        if len(lines) < 2:
            result.add(book, label, "postings", "at least 2", len(lines))
        dr_total = sum(lc.debit_fen for _, lc in lines)
        cr_total = sum(lc.credit_fen for _, lc in lines)
        if dr_total != cr_total or dr_total <= 0:
            result.add(book, label, "balance", "Σdebit = Σcredit > 0", f"{dr_total / 100:.2f} / {cr_total / 100:.2f}")
        for acc_id, lc in lines:
            if (lc.debit_fen > 0) == (lc.credit_fen > 0) or lc.debit_fen < 0 or lc.credit_fen < 0:
                result.add(book, label, f"posting to {lc.account_code}", "one positive side",
                           f"{lc.debit_fen}/{lc.credit_fen}")
            if acc_id in parents:
                result.add(book, label, f"posting to {lc.account_code}", "a leaf account", "an account with sub-accounts")
            s = sums[(acc_id, period_id)]
            s[0] += lc.debit_fen
            s[1] += lc.credit_fen
        if period is None or not (period.start_date <= d <= period.end_date) or period.year != year:
            result.add(book, label, "period", f"the period containing {d}", period_label)
        numbers[year].append(number)
        if month_number is not None:
            in_month[period_id].append((month_number, d, label))
        if seq == at_checkpoint:
            checkpoint_state = (stored_hash, _digest(sums, codes, periods, opening_rows))
    if pending is not None:
        result.add(book, f"entry id {pending[0]}", "postings", "postings of posted entries only", "an orphan posting")
    if checkpoint is not None:
        _compare_checkpoint(book, result, checkpoint, expected_seq, checkpoint_state)
    if upto is not None:
        return  # a prefix of the chain: the book's head and the balance table describe all of it
    _verify_opening(book, result)
    _verify_sides(book, result)
    _verify_references(book, result)
    _verify_counterparties(book, result, named)
    # Period status changes the database recorded but could not refuse, against the audit trail.
    for p in period_history_problems(book):
        result.add(book, p["entry"], p["field"], p["expected"], p["found"])

    if book.chain_length != expected_seq or book.chain_head != head:
        result.add(book, "(book)", "chain head", f"{expected_seq} entries ending {head[:16]}",
                   f"{book.chain_length} entries ending {book.chain_head[:16]}")
    for year, nums in numbers.items():
        nums.sort()
        if nums != list(range(1, len(nums) + 1)):
            missing = sorted(set(range(1, (nums[-1] if nums else 0) + 1)) - set(nums))[:10]
            result.add(book, f"year {year}", "voucher numbers", f"1..{len(nums)} without gaps",
                       f"gaps at {missing}" if missing else "duplicates")

    for period_id, rows in in_month.items():
        rows.sort()
        p = periods.get(period_id)
        if [n for n, _, _ in rows] != list(range(1, len(rows) + 1)):
            result.add(book, f"period {p}", "voucher numbers in the month", f"1..{len(rows)} without gaps",
                       ", ".join(str(n) for n, _, _ in rows[:20]))
        late = next((lb for (_, d1, _), (_, d2, lb) in zip(rows, rows[1:], strict=False) if d2 < d1), None)
        if late:
            result.add(book, late, "voucher numbers in date order (序时)", "dated no earlier than the number before",
                       "dated earlier")

    stored = {
        (acc, per): (dr, cr)
        for acc, per, dr, cr in AccountBalance.objects.filter(book=book)
        .annotate(dr=_fen("debit"), cr=_fen("credit"))
        .values_list("account_id", "period_id", "dr", "cr")
    }
    for key in sorted(set(stored) | set(sums)):
        want = tuple(sums.get(key, (0, 0)))
        have = stored.get(key, (0, 0))
        if want != have:
            acc, per = key
            p = periods.get(per)
            result.add(book, f"balance {codes.get(acc, acc)} {p}", "period balance = Σ postings",
                       f"{want[0] / 100:.2f} / {want[1] / 100:.2f}", f"{have[0] / 100:.2f} / {have[1] / 100:.2f}")


def _verify_counterparties(book: Book, result: VerifyResult, named: set) -> None:
    """Every counterparty the book's lines name is among the names (migration 0020), which the voucher search
    reads: a name missing (a restore that left the names out, triggers off) hides its lines from the search."""
    from .models import Counterparty

    wanted = sorted(named)
    kept = set()
    for i in range(0, len(wanted), 5000):  # within any database's limit on a statement's parameters
        kept.update(Counterparty.objects.filter(name__in=wanted[i:i + 5000]).values_list("name", flat=True))
    missing = [name for name in wanted if name not in kept]
    if missing:
        result.add(book, "(counterparties)", "counterparty names the voucher search reads",
                   "every counterparty a line names", f"{len(missing)} missing: {', '.join(missing[:5])}")


def _verify_references(book: Book, result: VerifyResult) -> None:
    """What the rows name exists: on PostgreSQL the guards hold it instead of foreign keys (migrations
    ledger 0014, 0015), so rows written with the triggers off (a superuser's replica session, a restore
    edited by hand) are found here. Every line the book holds sits under an entry of the book; every
    person a voucher names is a user."""
    from django.contrib.auth import get_user_model

    lines = Posting.objects.filter(book=book)
    stray = lines.exclude(Exists(JournalEntry.objects.filter(pk=OuterRef("entry_id"), book_id=OuterRef("book_id"))))
    for entry_id, n in stray.values_list("entry_id").annotate(n=Count("id")).order_by("entry_id")[:20]:
        result.add(book, f"entry id {entry_id}", "postings", "postings under an entry of their book",
                   f"{n} under an entry that does not exist or is of another book")
    users = get_user_model().objects
    missing = Q()
    for person in ("made_by", "reviewed_by", "supervisor"):
        missing |= Q(**{f"{person}__isnull": False}) & ~Exists(users.filter(pk=OuterRef(f"{person}_id")))
    named = (JournalEntry.objects.filter(book=book).filter(missing)
             .values_list("fiscal_year", "date__month", "number", "month_number", "made_by_id", "reviewed_by_id",
                          "supervisor_id")[:20])
    for year, month, number, month_number, *people in named:
        result.add(book, voucher_label(year, month, number, month_number) or "(draft)", "people named",
                   "users who exist", ", ".join(str(p) for p in people if p is not None))


def _attachments(book: Book, result: VerifyResult) -> dict[int, tuple]:
    """Each posted voucher's attachment digests, each checked against the bytes kept: a replaced scan
    fails here, a replaced digest fails the voucher's seal."""
    import hashlib

    from .models import Attachment

    out = defaultdict(tuple)
    rows = (Attachment.objects.filter(entry__book=book, entry__status=JournalEntry.Status.POSTED)
            .values_list("entry_id", "entry__fiscal_year", "entry__date__month", "entry__number",
                         "entry__month_number", "name", "sha256", "content"))
    for eid, year, month, number, month_number, name, sha, content in rows.iterator(chunk_size=50):
        out[eid] += (sha,)
        if hashlib.sha256(bytes(content)).hexdigest() != sha:
            result.add(book, voucher_label(year, month, number, month_number), f"attachment {name}", f"content with SHA-256 {sha[:16]}",
                       "other content")
    return out


def _verify_opening(book: Book, result: VerifyResult) -> None:
    """The opening balances (建账) as approved: sealed, balanced, and nothing prepared but never approved
    while the book posts."""
    from .models import Opening
    from .opening import opening_seal

    opening = Opening.objects.filter(book=book).first()
    if opening is None:
        return
    if opening.status != Opening.Status.APPROVED:
        if book.chain_length:
            result.add(book, "(opening)", "opening balances", "approved before the first voucher", "never approved")
        return
    if opening.seal != opening_seal(opening):
        result.add(book, "(opening)", "seal of the opening balances (changed after approval)", opening.seal[:16],
                   opening_seal(opening)[:16])
    dr = sum(int(x.amount * 100) for x in opening.lines.values_list("debit", flat=True))
    cr = sum(int(x.amount * 100) for x in opening.lines.values_list("credit", flat=True))
    if dr != cr:
        result.add(book, "(opening)", "opening balances", "debits = credits", f"{dr / 100:.2f} / {cr / 100:.2f}")


def _verify_sides(book: Book, result: VerifyResult) -> None:
    """Accounts that must not run to their other side (Account.deficit), at the end of every month:
    a refused one there is a break (the posting check was bypassed), a flagged one a warning."""
    from .opening import opening_fen

    watched = {a.pk: a for a in Account.objects.filter(book=book).exclude(deficit=Account.Deficit.ALLOW)}
    if not watched:
        return
    running = {acc: list(opening_fen(book).get(acc, (0, 0))) for acc in watched}
    months = (AccountBalance.objects.filter(book=book, account_id__in=watched)
              .annotate(dr=_fen("debit"), cr=_fen("credit"))
              .order_by("period__year", "period__month")
              .values_list("account_id", "period__year", "period__month", "dr", "cr"))
    reported = set()
    for acc, year, month, dr, cr in months:
        r = running[acc]
        r[0] += dr
        r[1] += cr
        a = watched[acc]
        net = r[0] - r[1] if a.normal_side == Account.Side.DEBIT else r[1] - r[0]
        if net >= 0 or acc in reported:
            continue
        reported.add(acc)
        where, what = f"{a.code} {a.name} {year}-{month:02d}", f"a balance on its {a.normal_side} side"
        found = f"{-net / 100:,.2f} on the other side at the month's end"
        if a.deficit == Account.Deficit.REFUSE:
            result.add(book, where, "balance direction (不允许赤字)", what, found)
        else:
            result.warnings.append({"book": book.code, "entry": where, "check": "balance direction",
                                    "expected": what, "found": found})


def _digest(sums, codes, periods, opening=()) -> str:
    rows = list(opening)
    for (acc, per), (dr, cr) in sums.items():
        p = periods.get(per)
        rows.append((codes.get(acc, f"?{acc}"), f"{p.year}-{p.month:02d}" if p else f"?{per}", dr, cr))
    return chain.balances_digest(rows)


def _compare_checkpoint(book, result, checkpoint, length: int, state) -> None:
    """The chain as the last checkpoint outside the database saw it: no shorter, same link there, same sums."""
    cp_len = checkpoint["length"]
    where = f"checkpoint of {checkpoint['at'][:19]}"
    if length < cp_len:
        result.add(book, where, "chain length", f"at least {cp_len} entries (the checkpoint)",
                   f"{length}: entries after {length} were removed, or an older database restored")
        return
    if state is None:
        return
    head, digest = state
    if head != checkpoint["head"]:
        result.add(book, where, f"link at entry {cp_len}", checkpoint["head"][:16], head[:16])
    if checkpoint.get("digest") and digest != checkpoint["digest"]:
        result.add(book, where, f"balances after entry {cp_len}", checkpoint["digest"][:16], digest[:16])
