"""verify_ledger: recompute every book's hash chain, numbering and balances from the rows.

This trusts nothing the application wrote about itself: it reads entries and postings,
recomputes each hash, checks each entry's balance and voucher numbering, sums the
postings per account and period and compares them with the balance table.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, ExpressionWrapper, F

from accounts.models import Account, Book
from core.checkpoints import checkpoint_last

from . import chain
from .guards_check import period_history_problems
from .models import AccountBalance, JournalEntry, Period, Posting

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

    def add(self, book: Book, entry: str, check: str, expected, found) -> None:
        self.ok = False
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append({"book": book.code, "entry": entry, "check": check,
                                  "expected": str(expected), "found": str(found)})


def _voucher(year: int, number) -> str:
    return f"记-{year}-{number:06d}" if number is not None else "(unnumbered)"


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
                     "idempotency_key", "reverses_id", "made_by_id", "reviewed_by_id", "content_digest", "prev_hash", "hash")
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
    sums = defaultdict(lambda: [0, 0])
    numbers = defaultdict(list)
    head, expected_seq = "", 0
    checkpoint_state = None  # (link, balances digest) at the checkpoint's length, once reached
    for (eid, seq, year, number, d, period_id, memo, source, key, reverses_id,
         made_by, reviewed_by, stored_content, prev_hash, stored_hash) in entries:
        result.entries += 1
        expected_seq += 1
        label = _voucher(year, number)
        lines = []
        while pending is not None and pending[0] == eid:
            _, acc_id, dr, cr, pmemo, cp = pending
            lines.append((acc_id, chain.LineContent(codes.get(acc_id, f"?{acc_id}"), dr, cr, pmemo, cp)))
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
            made_by=made_by, reviewed_by=reviewed_by, content=content,
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
        if seq == at_checkpoint:
            checkpoint_state = (stored_hash, _digest(sums, codes, periods))
    if pending is not None:
        result.add(book, f"entry id {pending[0]}", "postings", "postings of posted entries only", "an orphan posting")
    if checkpoint is not None:
        _compare_checkpoint(book, result, checkpoint, expected_seq, checkpoint_state)
    if upto is not None:
        return  # a prefix of the chain: the book's head and the balance table describe all of it
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


def _digest(sums, codes, periods) -> str:
    rows = []
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
