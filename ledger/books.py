"""The account books (账簿) as a Chinese fund accountant keeps them, read from the ledger.

- 明细账 (三栏式): one leaf account, posting by posting, with 借或贷 and the balance after each line;
- 总分类账: one first-level account (its sub-accounts rolled up), one 本月合计 and one 本年累计 row a month;
- 银行存款日记账 / 现金日记账: one cash or bank account (`cash_accounts`), by date, with the other side of
  each voucher (对方科目).

Every book starts with its opening row (上年结转 when it starts on January 1, else 期初余额), and every
month with movements ends with 本月合计 (that month's debits and credits) and 本年累计 (debits and credits
since January 1 — also in a statement of one month — and the balance at month end). A balance is shown
as 借 / 贷 / 平 and an amount never negative: a debit-normal account that runs into credit shows 贷 and
the positive amount. Each row also carries its year-to-date debits and credits (`cum_debit`,
`cum_credit`): the 过次页 / 承前页 rows a printed page ends and starts with carry exactly those, with the
balance (reports.canvas_ledger, docs/books.md).

Read from the balance table and the postings; with `upto`, from the postings of the first `upto`
entries of the book's chain only (what a statement's verification rebuilds), as ledger.selectors does.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import Q

from accounts.models import Account, Book
from core.money import from_fen

from .models import JournalEntry, Posting, voucher_label
from .selectors import _movements

OPEN, LINE, DAY, MONTH, YEAR = "open", "line", "day", "month", "year"
LABELS = {DAY: "本日合计", MONTH: "本月合计", YEAR: "本年累计"}

# Cash and bank accounts, by their first-level code: what a 日记账 is kept for (会计基础工作规范 第五十七条:
# 现金日记账和银行存款日记账). A fund's book (社会保险基金会计制度) keeps its money in 1001 库存现金 and the
# 100x deposit accounts (1002 收入户存款, 1003 财政专户存款, 1004 支出户存款, 1005 国库存款); an insurer's
# book (企业会计准则) in 1001 库存现金 and 1002 银行存款. Sub-accounts (one per bank account) follow
# their parent.
CASH_CODES = {Book.Kind.FUND: ("1001", "1002", "1003", "1004", "1005"), Book.Kind.INSURER: ("1001", "1002")}


def direction(net_fen: int) -> str:
    """借或贷 of a balance held as debit minus credit."""
    return "借" if net_fen > 0 else "贷" if net_fen < 0 else "平"


@dataclass
class BookRow:
    kind: str  # OPEN, LINE, DAY (本日合计), MONTH (本月合计) or YEAR (本年累计)
    date: date
    memo: str
    debit: int  # fen: the line's debit, or the day's / month's / year-to-date total; 0 on the opening row
    credit: int
    net: int  # balance after the row, debit minus credit
    cum_debit: int  # debits since January 1 up to and including this row (what 过次页 carries)
    cum_credit: int
    voucher: str = ""
    counter: str = ""  # 对方科目 (日记账)

    @property
    def direction(self) -> str:
        return direction(self.net)

    @property
    def balance(self) -> int:
        return abs(self.net)

    # As Money, for templates ({{ row.debit_money|yuan }}).
    @property
    def debit_money(self):
        return from_fen(self.debit)

    @property
    def credit_money(self):
        return from_fen(self.credit)

    @property
    def balance_money(self):
        return from_fen(self.balance)

    @property
    def net_money(self):
        return from_fen(self.net)

    @property
    def is_total(self) -> bool:
        return self.kind in (DAY, MONTH, YEAR)


@dataclass
class AccountBook:
    account: Account
    rows: list[BookRow]

    @property
    def closing(self) -> BookRow:
        return self.rows[-1]

    def _sum(self, field: str) -> int:
        kind = MONTH if not any(r.kind == LINE for r in self.rows) else LINE
        return sum(getattr(r, field) for r in self.rows if r.kind == kind)

    @property
    def period_debit(self) -> int:
        return self._sum("debit")

    @property
    def period_credit(self) -> int:
        return self._sum("credit")


def _net(pair: tuple[int, int] | None) -> int:
    return pair[0] - pair[1] if pair else 0


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _opening(year: int, month_from: int, net: int, cum: tuple[int, int]) -> BookRow:
    memo = "上年结转" if month_from == 1 else "期初余额"
    return BookRow(OPEN, date(year, month_from, 1), memo, 0, 0, net, *cum)


def _three_columns(*, year: int, month_from: int, month_to: int, net: int, cum: tuple[int, int], lines,
                   daily: bool = False) -> list[BookRow]:
    """An account's rows from its opening balance, year-to-date figures before `month_from`, and its lines
    (month, date, voucher, memo, debit, credit, counter) in order: each month with lines closes with
    本月合计 and 本年累计; an account without a line in the months shown closes the last one all the same."""
    cum_dr, cum_cr = cum
    rows = [_opening(year, month_from, net, cum)]
    by_month = defaultdict(list)
    for line in lines:
        by_month[line[0]].append(line)
    months = sorted(by_month) or [month_to]
    for month in months:
        m_dr = m_cr = 0
        items = by_month[month]
        for i, (_, day, voucher, memo, dr, cr, counter) in enumerate(items):
            net += dr - cr
            cum_dr, cum_cr, m_dr, m_cr = cum_dr + dr, cum_cr + cr, m_dr + dr, m_cr + cr
            rows.append(BookRow(LINE, day, memo, dr, cr, net, cum_dr, cum_cr, voucher, counter))
            if daily and (i + 1 == len(items) or items[i + 1][1] != day):
                same_day = [x for x in items if x[1] == day]
                if len(same_day) > 1:
                    rows.append(BookRow(DAY, day, LABELS[DAY], sum(x[4] for x in same_day),
                                        sum(x[5] for x in same_day), net, cum_dr, cum_cr))
        end = _month_end(year, month)
        rows.append(BookRow(MONTH, end, LABELS[MONTH], m_dr, m_cr, net, cum_dr, cum_cr))
        rows.append(BookRow(YEAR, end, LABELS[YEAR], cum_dr, cum_cr, net, cum_dr, cum_cr))
    return rows


def _balances(book: Book, year: int, month_from: int, upto: int | None):
    """Per account: the balance before `month_from` (debit minus credit) and the year's debits and credits
    before it. The book's approved 建账 balances (ledger.opening) come before every period, as in the
    trial balance."""
    from .opening import opening_fen

    before_year = _movements(book, Q(period__year__lt=year), upto)
    this_year = _movements(book, Q(period__year=year, period__month__lt=month_from), upto) if month_from > 1 else {}
    net = defaultdict(int)
    for acc, pair in (*opening_fen(book).items(), *before_year.items(), *this_year.items()):
        net[acc] += _net(pair)
    return net, this_year


def _lines(book: Book, year: int, month_from: int, month_to: int, upto: int | None, accounts=None):
    """The posted lines of the months, in the order of the books: by date, then voucher."""
    rows = Posting.objects.filter(book=book, entry__status=JournalEntry.Status.POSTED, entry__period__year=year,
                                  entry__period__month__gte=month_from, entry__period__month__lte=month_to)
    if upto is not None:
        rows = rows.filter(entry__seq__lte=upto)
    if accounts is not None:
        rows = rows.filter(account__in=accounts)
    return (rows.order_by("entry__date", "entry__month_number", "entry__fiscal_year", "entry__number", "line")
            .values_list("account_id", "entry_id", "entry__period__month", "entry__date", "entry__fiscal_year",
                         "entry__number", "entry__month_number", "entry__memo", "memo", "debit", "credit"))


def _fen(value) -> int:
    return int(value.amount * 100)


def account_ledger(*, book: Book, year: int, month_from: int = 1, month_to: int = 12, upto: int | None = None,
                   accounts=None) -> list[AccountBook]:
    """明细账 of the book's leaf accounts for months month_from..month_to of a year; an account with no line
    in those months, no balance and no movement earlier in the year is left out. Or of `accounts`, each
    shown whatever it holds."""
    leaves = accounts if accounts is not None else book.accounts.filter(children__isnull=True)
    leaves = list(leaves.order_by("code") if hasattr(leaves, "order_by") else leaves)
    net, this_year = _balances(book, year, month_from, upto)
    lines = defaultdict(list)
    chosen = leaves if accounts is not None else None
    for acc, _, month, day, fy, number, month_number, entry_memo, memo, dr, cr in (
            _lines(book, year, month_from, month_to, upto, chosen).iterator(chunk_size=5000)):
        lines[acc].append((month, day, voucher_label(fy, day.month, number, month_number), memo or entry_memo, _fen(dr), _fen(cr),
                           ""))
    out = []
    for a in leaves:
        cum = this_year.get(a.pk, (0, 0))
        if accounts is None and not lines[a.pk] and not net[a.pk] and cum == (0, 0):
            continue
        out.append(AccountBook(a, _three_columns(year=year, month_from=month_from, month_to=month_to, net=net[a.pk],
                                                 cum=cum, lines=lines[a.pk])))
    return out


def _roots(accounts: list[Account]) -> dict[int, Account]:
    """Each account's first-level account (总账科目)."""
    by_id = {a.pk: a for a in accounts}

    def root(a: Account) -> Account:
        while a.parent_id:
            a = by_id[a.parent_id]
        return a

    return {a.pk: root(a) for a in accounts}


def general_ledger(*, book: Book, year: int, month_from: int = 1, month_to: int = 12,
                   upto: int | None = None) -> list[AccountBook]:
    """总分类账 of the book's first-level accounts, each the sum of its sub-accounts (as the trial balance
    rolls them up): its opening balance, then for each month with movements 本月合计 and 本年累计 — read
    from the month's totals, never from the postings one by one."""
    accounts = list(Account.objects.filter(book=book).order_by("code"))
    roots = _roots(accounts)
    net, this_year = _balances(book, year, month_from, upto)
    monthly = {m: _movements(book, Q(period__year=year, period__month=m), upto) for m in range(month_from, month_to + 1)}
    out = []
    for top in (a for a in accounts if a.parent_id is None):
        members = [pk for pk, r in roots.items() if r.pk == top.pk]
        opening = sum(net[pk] for pk in members)
        cum = [sum(this_year.get(pk, (0, 0))[i] for pk in members) for i in (0, 1)]
        rows = [_opening(year, month_from, opening, tuple(cum))]
        moved = []
        for m, movements in monthly.items():
            dr = sum(movements.get(pk, (0, 0))[0] for pk in members)
            cr = sum(movements.get(pk, (0, 0))[1] for pk in members)
            if dr or cr:
                moved.append((m, dr, cr))
        if not moved and not opening and cum == [0, 0]:
            continue
        balance = opening
        for m, dr, cr in moved or [(month_to, 0, 0)]:
            balance += dr - cr
            cum = [cum[0] + dr, cum[1] + cr]
            end = _month_end(year, m)
            rows.append(BookRow(MONTH, end, LABELS[MONTH], dr, cr, balance, *cum))
            rows.append(BookRow(YEAR, end, LABELS[YEAR], *cum, balance, *cum))
        out.append(AccountBook(top, rows))
    return out


def cash_accounts(book: Book) -> list[Account]:
    """The book's cash and bank accounts that take postings: leaf accounts under a CASH_CODES first-level
    account (the one rule for which accounts have a 日记账)."""
    accounts = list(Account.objects.filter(book=book).order_by("code"))
    roots = _roots(accounts)
    parents = {a.parent_id for a in accounts}
    return [a for a in accounts if a.pk not in parents and roots[a.pk].code in CASH_CODES.get(book.kind, ())]


def _counter(names: list[str]) -> str:
    """对方科目: one or two accounts by code and name, more as the first and how many (多个科目)."""
    if len(names) <= 2:
        return "、".join(names)
    return f"{names[0]}等{len(names)}个科目"


def cash_journal(*, book: Book, year: int, month_from: int = 1, month_to: int = 12,
                 upto: int | None = None) -> list[AccountBook]:
    """银行存款日记账 (现金日记账 for 1001) of each cash or bank account: by date, each line with its 对方科目,
    本日合计 when a day has several lines, then 本月合计 and 本年累计."""
    cash = cash_accounts(book)
    net, this_year = _balances(book, year, month_from, upto)
    raw = list(_lines(book, year, month_from, month_to, upto, cash))
    # The other side of each voucher: the accounts on the opposite side, else any other account.
    others = defaultdict(list)
    entries = {entry_id for _, entry_id, *_ in raw}
    for entry_id, acc, code, name, dr in (Posting.objects.filter(entry_id__in=entries).order_by("entry_id", "line")
                                          .values_list("entry_id", "account_id", "account__code", "account__name",
                                                       "debit")):
        others[entry_id].append((acc, f"{code} {name}", _fen(dr) > 0))
    lines = defaultdict(list)
    for acc, entry_id, month, day, fy, number, month_number, entry_memo, memo, dr, cr in raw:
        debit = _fen(dr) > 0
        opposite = [n for a, n, d in others[entry_id] if a != acc and d != debit] or [
            n for a, n, _ in others[entry_id] if a != acc]
        lines[acc].append((month, day, voucher_label(fy, day.month, number, month_number), memo or entry_memo, _fen(dr), _fen(cr),
                           _counter(list(dict.fromkeys(opposite)))))
    out = []
    for a in cash:
        cum = this_year.get(a.pk, (0, 0))
        if not lines[a.pk] and not net[a.pk] and cum == (0, 0):
            continue
        out.append(AccountBook(a, _three_columns(year=year, month_from=month_from, month_to=month_to, net=net[a.pk],
                                                 cum=cum, lines=lines[a.pk], daily=True)))
    return out


@dataclass
class LedgerWindow:
    """One screen of an account's 明细账: `size` lines from line `start` of the months asked for, opened by a
    承前页 row carrying the balance and year-to-date figures of the lines before it; a month's 本月合计 and
    本年累计 close it on the screen its last line is on. `more`: lines follow on the next screen."""

    block: AccountBook
    start: int
    size: int
    more: bool
    period_debit: int  # the months' movements, as the trial balance shows them (the balance table)
    period_credit: int


def account_ledger_window(*, book: Book, year: int, account: Account, month_from: int = 1, month_to: int = 12,
                          start: int = 0, size: int = 500) -> LedgerWindow:
    """The 明细账 of one leaf account a screen at a time: a busy account has hundreds of thousands of lines a
    year, and a page of them all neither loads nor reads in time. Same figures as account_ledger's."""
    from django.db.models import Sum

    net, this_year = _balances(book, year, month_from, None)
    net, (cum_dr, cum_cr) = net[account.pk], this_year.get(account.pk, (0, 0))
    # The book-year's vouchers in their order (index entry_admin_list), each probed for a line on the account:
    # the first screen of a busy account reads a screen's worth, not the year's 300,000 lines sorted.
    lines = (Posting.objects.filter(account=account, entry__book=book, entry__fiscal_year=year,
                                    entry__status=JournalEntry.Status.POSTED,
                                    entry__date__gte=date(year, month_from, 1),
                                    entry__date__lte=_month_end(year, month_to))
             .order_by("entry__date", "entry__month_number", "entry__number", "line"))
    carried = {}  # month → (debits, credits) of the lines before the window
    if start:
        before = Posting.objects.filter(pk__in=lines.values("pk")[:start]).values("entry__period__month").annotate(
            dr=Sum("debit"), cr=Sum("credit")).values_list("entry__period__month", "dr", "cr")
        for month, dr, cr in before:
            carried[month] = (_fen(dr), _fen(cr))
            net, cum_dr, cum_cr = net + _fen(dr) - _fen(cr), cum_dr + _fen(dr), cum_cr + _fen(cr)
    window = list(lines.values_list("entry_id", "entry__period__month", "entry__date", "entry__fiscal_year",
                                    "entry__number", "entry__month_number", "entry__memo", "memo", "debit",
                                    "credit")[start:start + size + 1])
    more = len(window) > size
    window = window[:size]
    first_month = window[0][1] if window else month_from
    memo = ("承前页" if start else "上年结转" if month_from == 1 else "期初余额")
    rows = [BookRow(OPEN, date(year, first_month if start else month_from, 1), memo, 0, 0, net, cum_dr, cum_cr)]
    months = list(dict.fromkeys(w[1] for w in window)) or [month_to]
    for month in months:
        m_dr, m_cr = carried.get(month, (0, 0))
        for entry_id, _, day, fy, number, month_number, entry_memo, line_memo, dr, cr in (
                w for w in window if w[1] == month):
            dr, cr = _fen(dr), _fen(cr)
            net, cum_dr, cum_cr, m_dr, m_cr = net + dr - cr, cum_dr + dr, cum_cr + cr, m_dr + dr, m_cr + cr
            row = BookRow(LINE, day, line_memo or entry_memo, dr, cr, net, cum_dr, cum_cr,
                          voucher_label(fy, day.month, number, month_number))
            row.entry_id = entry_id
            rows.append(row)
        if more and month == months[-1]:
            break  # the month goes on on the next screen: its totals close it there
        end = _month_end(year, month)
        rows.append(BookRow(MONTH, end, LABELS[MONTH], m_dr, m_cr, net, cum_dr, cum_cr))
        rows.append(BookRow(YEAR, end, LABELS[YEAR], cum_dr, cum_cr, net, cum_dr, cum_cr))
    period = _movements(book, Q(period__year=year, period__month__gte=month_from, period__month__lte=month_to))
    dr, cr = period.get(account.pk, (0, 0))
    return LedgerWindow(AccountBook(account, rows), start, size, more, dr, cr)
