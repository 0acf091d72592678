"""Reads of the ledger: balances, the trial balance (科目余额表), account statements.

Trial balances read the per-period balance rows (accounts × periods), never the
postings, so their cost does not grow with the number of entries.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, Sum

from accounts.models import Account, Book
from core.money import from_fen

from .models import AccountBalance, JournalEntry, Period, Posting, voucher_label


def _signed(account_side: str, debit_fen: int, credit_fen: int) -> int:
    """Balance on the account's normal side, in fen (negative when it runs the other way)."""
    return debit_fen - credit_fen if account_side == Account.Side.DEBIT else credit_fen - debit_fen


def _movements(book: Book, period_filter: Q, upto: int | None = None) -> dict[int, tuple[int, int]]:
    """Debits and credits per account over the periods the filter names, from the balance table; or, with
    `upto`, from the postings of the first `upto` entries of the book's chain (what verification trusts)."""
    if upto is None:
        rows = AccountBalance.objects.filter(period_filter, book=book)
    else:
        rows = Posting.objects.filter(_via_entry(period_filter), book=book, entry__status=JournalEntry.Status.POSTED,
                                      entry__seq__lte=upto)
    rows = rows.values("account_id").annotate(dr=Sum("debit"), cr=Sum("credit")).values_list("account_id", "dr", "cr")
    # Sum over a FenField comes back as Money; keep fen here.
    return {acc: (int(dr.amount * 100), int(cr.amount * 100)) for acc, dr, cr in rows}


def _via_entry(q: Q) -> Q:
    """The same filter on postings: a balance row's `period__…` is the entry's `entry__period__…`."""
    out = Q()
    out.connector, out.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            out.children.append(_via_entry(child))
        else:
            name, value = child
            out.children.append((f"entry__{name}" if name.startswith("period") else name, value))
    return out


def _before(year: int, month: int) -> Q:
    return Q(period__year__lt=year) | Q(period__year=year, period__month__lt=month)


def account_balance(*, account: Account, as_of: date, upto: int | None = None):
    """Balance of an account at the end of a day, on its normal side, as Money (`upto`: see _movements)."""
    from .opening import opening_fen

    before = _movements(account.book, _before(as_of.year, as_of.month) & Q(account=account), upto)
    dr, cr = before.get(account.pk, (0, 0))
    odr, ocr = opening_fen(account.book).get(account.pk, (0, 0))
    dr, cr = dr + odr, cr + ocr
    # A date range, not year and month lookups: SQLite extracts those by a Python function per row (a tenth
    # of the posting time, where the 不允许赤字 check reads a cash account's month at every batch).
    this_month = Posting.objects.filter(
        account=account, entry__status=JournalEntry.Status.POSTED, entry__date__gte=as_of.replace(day=1),
        entry__date__lte=as_of, **({"entry__seq__lte": upto} if upto is not None else {}),
    ).aggregate(dr=Sum("debit"), cr=Sum("credit"))
    if this_month["dr"] is not None:
        dr += int(this_month["dr"].amount * 100)
        cr += int(this_month["cr"].amount * 100)
    return from_fen(_signed(account.normal_side, dr, cr))


@dataclass
class TrialBalanceRow:
    account: Account
    depth: int
    is_leaf: bool
    opening_debit: object
    opening_credit: object
    period_debit: object
    period_credit: object
    closing_debit: object
    closing_credit: object
    # Closing on the side opposite the account's normal one, where the account's rule watches that
    # (Account.deficit): shown flagged, never hidden in the other column.
    wrong_side: bool = False


@dataclass
class TrialBalance:
    book: Book
    year: int
    month_from: int
    month_to: int
    rows: list[TrialBalanceRow]
    totals: TrialBalanceRow

    @property
    def balanced(self) -> bool:
        t = self.totals
        return (t.opening_debit == t.opening_credit and t.period_debit == t.period_credit
                and t.closing_debit == t.closing_credit)


def _split(side: str, net_fen: int) -> tuple[int, int]:
    """Place a net balance in the debit or the credit column, as 科目余额表 shows it."""
    if side == Account.Side.DEBIT:
        return (net_fen, 0) if net_fen >= 0 else (0, -net_fen)
    return (0, net_fen) if net_fen >= 0 else (-net_fen, 0)


def trial_balance(*, book: Book, year: int, month_from: int = 1, month_to: int = 12,
                  upto: int | None = None) -> TrialBalance:
    """科目余额表 for months month_from..month_to of a year: opening, movements, closing.

    Parent accounts show the sum of their sub-accounts; totals count leaf accounts only. Read from the
    balance table; with `upto`, from the postings of the first `upto` entries of the chain instead.
    """
    if not (1 <= month_from <= month_to <= 12):
        raise ValueError(f"months must satisfy 1 ≤ from ≤ to ≤ 12, got {month_from}..{month_to}")
    accounts = list(Account.objects.filter(book=book).order_by("code"))
    from .opening import opening_fen

    opening = _movements(book, _before(year, month_from), upto)
    # 建账 balances (ledger.opening) come before every period; later years carry all of it forward.
    for acc, (odr, ocr) in opening_fen(book).items():
        dr, cr = opening.get(acc, (0, 0))
        opening[acc] = (dr + odr, cr + ocr)
    during = _movements(book, Q(period__year=year, period__month__gte=month_from, period__month__lte=month_to), upto)
    children = defaultdict(list)
    for a in accounts:
        if a.parent_id:
            children[a.parent_id].append(a)
    by_id = {a.pk: a for a in accounts}
    raw = {}  # account id -> [open dr, open cr, period dr, period cr] in fen, rolled up

    def gather(a: Account) -> list[int]:
        if a.pk in raw:
            return raw[a.pk]
        if children[a.pk]:
            total = [0, 0, 0, 0]
            for child in children[a.pk]:
                total = [x + y for x, y in zip(total, gather(child), strict=False)]
        else:
            total = [*opening.get(a.pk, (0, 0)), *during.get(a.pk, (0, 0))]
        raw[a.pk] = total
        return total

    def depth(a: Account) -> int:
        d = 0
        while a.parent_id:
            a, d = by_id[a.parent_id], d + 1
        return d

    rows, sums = [], [0] * 6
    for a in accounts:
        odr, ocr, pdr, pcr = gather(a)
        o = _split(a.normal_side, _signed(a.normal_side, odr, ocr))
        c = _split(a.normal_side, _signed(a.normal_side, odr + pdr, ocr + pcr))
        leaf = not children[a.pk]
        if leaf:
            sums = [x + y for x, y in zip(sums, (*o, pdr, pcr, *c), strict=False)]
        wrong = a.deficit != Account.Deficit.ALLOW and _signed(a.normal_side, odr + pdr, ocr + pcr) < 0
        rows.append(TrialBalanceRow(a, depth(a), leaf, from_fen(o[0]), from_fen(o[1]), from_fen(pdr),
                                    from_fen(pcr), from_fen(c[0]), from_fen(c[1]), wrong))
    totals = TrialBalanceRow(None, 0, False, *(from_fen(x) for x in sums))
    return TrialBalance(book, year, month_from, month_to, rows, totals)


@dataclass
class StatementLine:
    date: date
    voucher: str
    memo: str
    debit: object
    credit: object
    balance: object


def account_statement(*, account: Account, date_from: date, date_to: date,
                      upto: int | None = None) -> tuple[object, list[StatementLine]]:
    """明细账: the opening balance and each posted line with its running balance (`upto`: see _movements)."""
    from datetime import timedelta

    opening = account_balance(account=account, as_of=date_from - timedelta(days=1), upto=upto)
    running = int(opening.amount * 100)
    lines = []
    rows = (
        Posting.objects.filter(account=account, entry__status=JournalEntry.Status.POSTED,
                               entry__date__gte=date_from, entry__date__lte=date_to,
                               **({"entry__seq__lte": upto} if upto is not None else {}))
        .order_by("entry__date", "entry__month_number", "entry__fiscal_year", "entry__number", "line")
        .values_list("entry__date", "entry__fiscal_year", "entry__number", "entry__month_number", "entry__memo",
                     "memo", "debit", "credit")
    )
    for d, year, number, month_number, entry_memo, memo, dr, cr in rows.iterator(chunk_size=5000):
        dr_fen, cr_fen = int(dr.amount * 100), int(cr.amount * 100)
        running += _signed(account.normal_side, dr_fen, cr_fen)
        lines.append(StatementLine(d, voucher_label(year, d.month, number, month_number), memo or entry_memo, dr, cr,
                                   from_fen(running)))
    return opening, lines


def open_periods(*, book: Book):
    return Period.objects.filter(book=book, status=Period.Status.OPEN).order_by("year", "month")
