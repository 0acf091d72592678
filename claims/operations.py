"""Reads for the operations reports (年度 / 季度运行分析): claims of a contract year in a period by channel,
beneficiary group, hospital and month; and the claims sub-ledger reconciled to account 6511 赔付支出 of
the insurer's book for the same months, every difference named.

The claims a report counts are those of posted batches charged to the contract year (the settlement's C),
settled in the period. Account 6511's movement is read from the trial balance of the insurer's book(s) for
the period's months, without the year-end closing entry (which empties 6511 into 4103 on December 31).
The two differ by:
- claims of the year posted in other months (those settled after December 31 up to the cut-off are posted
  in the next year's January–March; or posted in an earlier period);
- claims of the year not yet carried by a voucher;
- claims of other contract years or other contracts posted in the period (a previous year's run-off; a
  year's claims settled after its cut-off with no following year to charge them to);
- reversals (红字冲销) of 6511 entries, and other vouchers on 6511 (recoveries, repayments, adjustments).
What is left after naming these is the unexplained difference; the report prints it (it should be 0.00).
Batches awaiting review count in neither figure: they are shown apart, never as a difference.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Sum

from accounts.models import Book
from contracts.models import ContractYear
from core.money import from_fen, to_fen
from ledger.models import JournalEntry, Posting
from ledger.selectors import trial_balance

from .models import Claim, ClaimBatch, ClaimSummary
from .rules import GROUPS
from .selectors import counted_claims

CHANNELS = {Claim.Channel.DIRECT: "医院直接结算", Claim.Channel.MANUAL: "手工报销",
            Claim.Channel.ADVANCE: "偿还基本医保垫付"}
CLAIMS_ACCOUNT = "6511"
CLOSING_SOURCE = "year-end close"


def ratio(part: Decimal, whole: Decimal) -> Decimal:
    """A percentage with two decimals, half up; 0 when the whole is 0."""
    if not whole:
        return Decimal("0.00")
    return (part / whole * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _amount(total) -> Decimal:
    return total.amount if total is not None else Decimal("0.00")


def claims_of(*, contract_year: ContractYear, date_from: date | None = None, date_to: date | None = None):
    """Claims of posted batches charged to the contract year, settled between the dates (inclusive)."""
    qs = counted_claims().filter(charged_to=contract_year)
    if date_from is not None:
        qs = qs.filter(settled_on__gte=date_from)
    if date_to is not None:
        qs = qs.filter(settled_on__lte=date_to)
    return qs


@dataclass
class Line:
    label: str
    episodes: int
    amount: Decimal
    persons: int | None = None


@dataclass
class ClaimsBreakdown:
    total: Decimal
    persons: int  # beneficiaries: distinct persons paid more than 0
    episodes: int  # claims paid more than 0
    unpaid: int  # claims that paid nothing (below the deductible, say)
    by_channel: list[Line]
    by_group: list[Line]
    by_hospital: list[Line]  # the top N, then one line for the rest
    by_month: list[Line]
    hospitals: int


def claims_breakdown(qs, *, top: int = 10) -> ClaimsBreakdown:
    paid = qs.filter(paid__gt=0)
    agg = paid.aggregate(s=Sum("paid"), n=Count("id"), p=Count("person", distinct=True))
    total = _amount(agg["s"])

    def lines(key, labels=None):
        out = []
        for row in paid.values(key).annotate(n=Count("id"), s=Sum("paid"), p=Count("person", distinct=True)):
            label = labels.get(row[key], row[key]) if labels else row[key]
            out.append(Line(label, row["n"], _amount(row["s"]), row["p"]))
        return out

    by_channel = sorted(lines("channel", CHANNELS), key=lambda x: -x.amount)
    by_group = sorted(lines("group_code", GROUPS), key=lambda x: -x.amount)
    hospitals = sorted(lines("hospital__name"), key=lambda x: (-x.amount, x.label))
    by_hospital = hospitals[:top]
    rest = hospitals[top:]
    if rest:
        by_hospital.append(Line(f"其他 {len(rest)} 家", sum(x.episodes for x in rest),
                                sum((x.amount for x in rest), Decimal("0.00"))))
    months = defaultdict(lambda: [0, 0])
    for settled_on, fen in paid.values_list("settled_on", "paid"):
        m = months[(settled_on.year, settled_on.month)]
        m[0] += 1
        m[1] += to_fen(fen)
    by_month = [Line(f"{y}年{m}月", n, from_fen(fen).amount) for (y, m), (n, fen) in sorted(months.items())]
    return ClaimsBreakdown(total, agg["p"], agg["n"], qs.filter(paid=0).count(), by_channel, by_group, by_hospital,
                           by_month, len(hospitals))


@dataclass
class Difference:
    label: str
    amount: Decimal  # signed: what it adds to the report's claims to reach the 6511 movement
    detail: str = ""


@dataclass
class LedgerReconciliation:
    books: list[Book]
    date_from: date
    date_to: date
    claims: Decimal  # C: the report's claims
    tb_debit: Decimal  # 6511 in the trial balance of the months: debit and credit movement
    tb_credit: Decimal
    closing: Decimal  # the year-end closing entry's credit to 6511 within the months (added back)
    ledger: Decimal  # 6511's movement without the year-end close
    differences: list[Difference] = field(default_factory=list)
    pending: dict = field(default_factory=dict)  # batches awaiting review: count, claims, amount

    @property
    def explained(self) -> Decimal:
        return self.claims + sum((d.amount for d in self.differences), Decimal("0.00"))

    @property
    def unexplained(self) -> Decimal:
        return self.ledger - self.explained


def _vouchers(entry_ids, limit: int = 6) -> str:
    entries = JournalEntry.objects.filter(pk__in=entry_ids).order_by("fiscal_year", "number")
    labels = [e.voucher for e in entries[:limit]]
    more = len(entry_ids) - len(labels)
    return "、".join(labels) + (f" 等 {len(entry_ids)} 张" if more > 0 else "")


def claims_ledger_reconciliation(*, contract_year: ContractYear, claims, date_from: date, date_to: date,
                                 books: list[Book] | None = None) -> LedgerReconciliation:
    """The report's claims (`claims`, a queryset of Claim) against 6511 in the insurer's book(s) for the months
    date_from..date_to of one year, every difference named (see the module's docstring)."""
    if date_from.year != date_to.year:
        raise ValueError("a reconciliation covers months of one year")
    if books is None:
        books = list(Book.objects.filter(insurer=contract_year.contract.insurer).order_by("code"))
    year, m1, m2 = date_from.year, date_from.month, date_to.month
    tb_dr = tb_cr = Decimal("0.00")
    for book in books:
        tb = trial_balance(book=book, year=year, month_from=m1, month_to=m2)
        row = next((r for r in tb.rows if r.account.code == CLAIMS_ACCOUNT), None)
        if row is not None:
            tb_dr += row.period_debit.amount
            tb_cr += row.period_credit.amount
    postings = Posting.objects.filter(
        book__in=books, account__code__startswith=CLAIMS_ACCOUNT, entry__status=JournalEntry.Status.POSTED,
        entry__period__year=year, entry__period__month__gte=m1, entry__period__month__lte=m2)
    closing = postings.filter(entry__source=CLOSING_SOURCE).aggregate(d=Sum("debit"), c=Sum("credit"))
    closing_net = _amount(closing["c"]) - _amount(closing["d"])
    ledger = tb_dr - tb_cr + closing_net

    # Every other 6511 posting of the months, by entry: carrying claims, reversing an entry, or anything else.
    per_entry = defaultdict(lambda: Decimal("0.00"))
    for entry_id, dr, cr in postings.exclude(entry__source=CLOSING_SOURCE).values_list("entry", "debit", "credit"):
        per_entry[entry_id] += dr.amount - cr.amount
    entries = {e.pk: e for e in JournalEntry.objects.filter(pk__in=per_entry)}
    claims_entries = set(ClaimSummary.objects.filter(entry__in=per_entry).values_list("entry", flat=True))
    reversals = [pk for pk, e in entries.items() if e.reverses_id is not None]
    others = [pk for pk in per_entry if pk not in claims_entries and pk not in reversals]

    c_total = _amount(claims.aggregate(s=Sum("paid"))["s"])
    rec = LedgerReconciliation(books, date_from, date_to, c_total, tb_dr, tb_cr, closing_net, ledger)
    book_ids = {b.pk for b in books}
    report_ids = claims.values("pk")

    # The report's claims posted outside these months, or not (yet) carried by a voucher.
    outside = claims.filter(paid__gt=0).exclude(summary__entry__in=claims_entries)
    later, earlier, elsewhere = defaultdict(list), defaultdict(list), []
    unposted = Decimal("0.00")
    n_unposted = 0
    for entry_id, book_id, day, settled_on, paid in outside.values_list(
            "summary__entry", "summary__entry__book", "summary__entry__date", "settled_on", "paid"):
        if entry_id is None:
            unposted += paid.amount
            n_unposted += 1
        elif book_id not in book_ids:
            elsewhere.append((entry_id, paid.amount, settled_on))
        elif day > date_to:
            later[(day.year, day.month)].append((entry_id, paid.amount, settled_on))
        else:
            earlier[(day.year, day.month)].append((entry_id, paid.amount, settled_on))

    def grouped(groups: dict, what: str) -> tuple[Decimal, str]:
        total, details = Decimal("0.00"), []
        for (y, m), items in sorted(groups.items()):
            amount = sum((a for _, a, _ in items), Decimal("0.00"))
            total += amount
            first, last = min(d for _, _, d in items), max(d for _, _, d in items)
            settled = first.isoformat() + ("" if first == last else f" 至 {last.isoformat()}")
            details.append(f"{y}年{m}月入账 {len(items)} 笔 {amount:,.2f}（结算日 {settled}；"
                           f"{_vouchers({e for e, _, _ in items})}）")
        return total, "；".join(details) or what

    amount, detail = grouped(later, "无")
    rec.differences.append(Difference(
        "减：本年度赔款在报告期之后入账（如次年1月至结算时点结算、计入本年度的赔款）", -amount, detail))
    amount, detail = grouped(earlier, "无")
    rec.differences.append(Difference("减：本年度赔款在报告期之前入账", -amount, detail))
    rec.differences.append(Difference(
        "减：本年度赔款尚未生成记账凭证", -unposted, f"{n_unposted} 笔" if n_unposted else "无"))
    amount = sum((a for _, a, _ in elsewhere), Decimal("0.00"))
    rec.differences.append(Difference("减：本年度赔款记入其他账簿", -amount,
                                      _vouchers({e for e, _, _ in elsewhere}) if elsewhere else "无"))

    # Claims of other contract years or contracts carried by this period's 6511 entries.
    foreign = Claim.objects.filter(summary__entry__in=claims_entries).exclude(pk__in=report_ids).filter(paid__gt=0)
    other_total, details = Decimal("0.00"), []
    for row in (foreign.values("contract_year__contract__code", "contract_year__year", "charged_to__year")
                .annotate(n=Count("id"), s=Sum("paid"), e=Count("summary__entry", distinct=True))
                .order_by("contract_year__contract__code", "contract_year__year")):
        amount = _amount(row["s"])
        other_total += amount
        charged = (f"计入{row['charged_to__year']}年度" if row["charged_to__year"]
                   else "结算时点后结算、无下一年度合同可结转")
        details.append(f"{row['contract_year__contract__code']} {row['contract_year__year']}年度赔款（{charged}）"
                       f"{row['n']} 笔 {amount:,.2f}")
    rec.differences.append(Difference("加：本期入账的其他年度或其他合同的赔款", other_total,
                                      "；".join(details) or "无"))
    # A claims entry whose 6511 line is not the sum of the claims it carries (never expected).
    carried = dict(Claim.objects.filter(summary__entry__in=claims_entries).values("summary__entry")
                   .annotate(s=Sum("paid")).values_list("summary__entry", "s"))
    mismatch = [(pk, per_entry[pk] - _amount(carried.get(pk))) for pk in claims_entries
                if per_entry[pk] != _amount(carried.get(pk))]
    if mismatch:
        rec.differences.append(Difference("加：赔款凭证金额与其所载赔案不符", sum((d for _, d in mismatch), Decimal("0.00")),
                                          _vouchers({pk for pk, _ in mismatch})))

    amount = sum((per_entry[pk] for pk in reversals), Decimal("0.00"))
    rec.differences.append(Difference("加/减：冲销（红字）凭证", amount,
                                      "；".join(f"{entries[pk].voucher} {entries[pk].memo}" for pk in reversals[:6])
                                      or "无"))
    amount = sum((per_entry[pk] for pk in others), Decimal("0.00"))
    rec.differences.append(Difference("加/减：其他记入6511的凭证（追回、偿还、调整等）", amount,
                                      "；".join(f"{entries[pk].voucher} {entries[pk].memo} {per_entry[pk]:,.2f}"
                                               for pk in sorted(others)[:6]) or "无"))

    pending = Claim.objects.filter(batch__status=ClaimBatch.Status.PREPARED, contract_year__contract=contract_year.contract,
                                   settled_on__gte=date_from, settled_on__lte=date_to)
    agg = pending.aggregate(n=Count("id"), s=Sum("paid"), b=Count("batch", distinct=True))
    rec.pending = {"batches": agg["b"], "claims": agg["n"], "amount": _amount(agg["s"])}
    return rec


def quarter_of(month: int) -> int:
    return (month - 1) // 3 + 1


def claims_quarters(*, contract_year: ContractYear, upto_quarter: int = 4, run_off: bool = True) -> list[dict]:
    """Claims of the year per quarter of the policy year (settled in it), and, for the whole year, the
    run-off settled after December 31 up to the cut-off that still counts in the year."""
    y = contract_year.year
    out = []
    for q in range(1, upto_quarter + 1):
        start, end = date(y, 3 * q - 2, 1), date(y, 3 * q, 31 if q in (1, 4) else 30)
        qs = claims_of(contract_year=contract_year, date_from=start, date_to=end)
        agg = qs.filter(paid__gt=0).aggregate(s=Sum("paid"), n=Count("id"))
        out.append({"label": f"第{q}季度（{3 * q - 2}–{3 * q}月）", "amount": _amount(agg["s"]), "episodes": agg["n"]})
    if run_off:
        qs = claims_of(contract_year=contract_year, date_from=date(y + 1, 1, 1))
        agg = qs.filter(paid__gt=0).aggregate(s=Sum("paid"), n=Count("id"))
        earlier = claims_of(contract_year=contract_year, date_to=date(y - 1, 12, 31)).filter(paid__gt=0).aggregate(
            s=Sum("paid"), n=Count("id"))
        if earlier["n"]:
            out.insert(0, {"label": f"{y}年以前结算", "amount": _amount(earlier["s"]), "episodes": earlier["n"]})
        out.append({"label": f"{y + 1}年1月至结算时点 {contract_year.cutoff.isoformat()}",
                    "amount": _amount(agg["s"]), "episodes": agg["n"]})
    return out

