"""Fund ↔ insurer: every premium movement matched between the two books.

The fund books premium paid as Dr 5101 with the insurer as counterparty; the insurer books
premium received as Cr 6031 / 2203 with the fund as counterparty. Pairs are found by the
transfer reference (the entry key transfer:REF, or a reference in brackets in the memo),
then by amount within a few days; what is left is listed on its side, and amounts keyed
differently under one reference are listed as mismatches. The listed items explain the
whole difference between premium paid and premium received.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from accounts.models import Book, Fund, Insurer
from ledger.models import Posting

WINDOW_DAYS = 5
_REF = re.compile(r"[（(]([A-Za-z0-9:_\-]+)[)）]\s*$")


@dataclass
class Item:
    date: date
    voucher: str
    memo: str
    amount: Decimal
    reference: str


@dataclass
class TransferReconciliation:
    fund_total: Decimal
    insurer_total: Decimal
    matched: list = field(default_factory=list)
    fund_only: list = field(default_factory=list)
    insurer_only: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)  # (fund item, insurer item)
    # Surplus the insurer paid back (224101 debits) against what the fund booked as returned (5101 credits).
    surplus_paid: Decimal = Decimal(0)
    surplus_received: Decimal = Decimal(0)

    @property
    def difference(self) -> Decimal:
        return self.fund_total - self.insurer_total

    @property
    def explained(self) -> Decimal:
        return (sum((i.amount for i in self.fund_only), Decimal(0)) - sum((i.amount for i in self.insurer_only),
                                                                           Decimal(0))
                + sum((f.amount - i.amount for f, i in self.mismatched), Decimal(0)))


def _reference(entry) -> str:
    key = entry.idempotency_key or ""
    if key.startswith("transfer:"):
        return key.split(":", 1)[1]
    m = _REF.search(entry.memo)
    return m.group(1) if m else ""


def _items(book: Book, codes, side: str, counterparty: str, year: int) -> list[Item]:
    qs = (Posting.objects.filter(book=book, account__code__in=codes, entry__status="posted",
                                 entry__date__year=year, counterparty=counterparty, **{f"{side}__gt": 0})
          .select_related("entry").order_by("entry__date", "entry__number"))
    return [Item(p.entry.date, p.entry.voucher, p.entry.memo, getattr(p, side).amount, _reference(p.entry))
            for p in qs]


def transfers_reconcile(*, fund: Fund, insurer: Insurer, year: int) -> TransferReconciliation:
    fund_items = _items(Book.objects.get(fund=fund), ["5101"], "debit", insurer.name, year)
    insurer_items = _items(Book.objects.get(insurer=insurer), ["6031", "2203"], "credit", fund.name, year)
    # What the insurer records on settlement (loss shares) and the fund's surplus refunds are not premium:
    # both books tag them, so only transfers and hand-entered premium lines are compared here.
    r = TransferReconciliation(sum((i.amount for i in fund_items), Decimal(0)),
                               sum((i.amount for i in insurer_items), Decimal(0)))
    left = list(insurer_items)
    unpaired = []
    for f in fund_items:
        same = next((i for i in left if f.reference and i.reference == f.reference), None)
        if same is None:
            unpaired.append(f)
            continue
        left.remove(same)
        (r.matched if same.amount == f.amount else r.mismatched).append((f, same))
    for f in unpaired:
        same = next((i for i in left if i.amount == f.amount and abs((i.date - f.date).days) <= WINDOW_DAYS), None)
        if same is None:
            r.fund_only.append(f)
        else:
            left.remove(same)
            r.matched.append((f, same))
    r.insurer_only = left
    fund_book, insurer_book = Book.objects.get(fund=fund), Book.objects.get(insurer=insurer)
    r.surplus_paid = sum((i.amount for i in _items(insurer_book, ["224101"], "debit", fund.name, year)), Decimal(0))
    r.surplus_received = sum((i.amount for i in _items(fund_book, ["5101"], "credit", insurer.name, year)),
                             Decimal(0))
    return r


def advances_reconcile(*, fund: Fund, insurer: Insurer, year: int) -> TransferReconciliation:
    """Repayments of the basic fund's advances (claims.advances): the insurer's 224103 debits against the
    fund's 1101 credits, paired by the reference both vouchers carry in brackets, as premiums are."""
    paid = _items(Book.objects.get(insurer=insurer), ["224103"], "debit", fund.name, year)
    received = _items(Book.objects.get(fund=fund), ["1101"], "credit", insurer.name, year)
    r = TransferReconciliation(sum((i.amount for i in received), Decimal(0)), sum((i.amount for i in paid), Decimal(0)))
    left = list(paid)
    for f in received:
        same = next((i for i in left if f.reference and i.reference == f.reference), None)
        if same is None:
            r.fund_only.append(f)
            continue
        left.remove(same)
        (r.matched if same.amount == f.amount else r.mismatched).append((f, same))
    r.insurer_only = left
    return r
