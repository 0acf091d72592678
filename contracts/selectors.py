"""Reads for premiums: where each obligation stands on a date."""

from dataclasses import dataclass
from datetime import date

from core.money import from_fen, to_fen

from .models import PremiumObligation, PremiumTransfer


@dataclass
class ObligationStatus:
    """One obligation on a date. Amounts are Money:

    - `amount` 应拨: what the terms (or the top-up table) require; `withheld` 考核扣留: the part of a
      service deposit the annual assessment withheld; `required` = amount − withheld, what is owed;
    - `received` 已到账: paid and confirmed by the receiving side (the insurer's voucher posted, the money
      arrived by the date); `in_transit` 在途: paid by the fund (its voucher posted) but not yet confirmed
      by the insurer, or confirmed as arriving after the date;
    - `shortfall` 差额 = required − received − in_transit: not paid at all.
    A payment whose vouchers both still await review counts nowhere (it is reserved against what is owed).
    """

    obligation: PremiumObligation
    required: object
    received: object
    shortfall: object
    in_transit: object
    state: str  # paid_on_time | paid_late | in_transit | overdue | not_due | awaiting_assessment
    days_late: int | None
    paid_in_full_on: date | None
    late_by_due: bool
    amount: object = None
    withheld: object = None

    STATE_LABELS = {
        "paid_on_time": "按时足额",
        "paid_late": "逾期后足额",
        "in_transit": "已拨付待确认",
        "overdue": "逾期未足额",
        "not_due": "未到期",
        "awaiting_assessment": "待考核",
    }

    @property
    def state_label(self) -> str:
        return self.STATE_LABELS[self.state]


def _arrived(t: PremiumTransfer) -> date:
    # Shanxi counts money that has arrived (到账); until the insurer's voucher is posted, the payment date
    # stands in (and the amount shows as in transit).
    return t.received_on if t.insurer_confirmed and t.received_on else t.paid_on


def _confirmed_by(t: PremiumTransfer, as_of: date) -> bool:
    """The receiving side (the insurer) has posted its voucher for money that arrived by `as_of`."""
    return t.insurer_confirmed and _arrived(t) <= as_of


def premium_status(*, as_of: date, fund=None, insurer=None, year: int | None = None,
                   contract_year=None) -> list[ObligationStatus]:
    """Every obligation with what was required, received (confirmed) and in transit by `as_of`, the
    shortfall, and on time or days late.

    Payments against one obligation go to it; payments against a contract year fill its
    obligations in due-date order (tranches are cumulative, so this is the cumulative test).
    An obligation is paid in full (on time or late) once confirmed receipts cover it, dated by the
    last arrival; covered only with money in transit it is 已拨付待确认, late by the fund's payment
    date; `late_by_due` (the overdue mark) counts money in transit as paid on its payment date.
    """
    obligations = PremiumObligation.objects.select_related("fund", "insurer")
    transfers = PremiumTransfer.objects.select_related("fund_entry", "insurer_entry")
    filters = {}
    if fund is not None:
        filters["fund"] = fund
    if insurer is not None:
        filters["insurer"] = insurer
    if year is not None:
        filters["year"] = year
    if contract_year is not None:
        filters["contract_year"] = contract_year
    obligations = list(obligations.filter(**filters))
    obligations.sort(key=lambda o: (o.fund_id, o.insurer_id, o.year, o.due_date or date.max, o.sequence, o.pk))
    tfilters = {k: v for k, v in filters.items() if k != "contract_year"}
    # A transfer counts once a reviewer has posted either side's voucher; drafts awaiting review do not.
    transfers = [t for t in transfers.filter(**tfilters) if t.paid_on <= as_of and t.counts]
    transfers.sort(key=lambda t: (_arrived(t), t.pk))

    confirmed = {o.pk: 0 for o in obligations}
    transit = {o.pk: 0 for o in obligations}
    covered_on: dict[int, date] = {}  # confirmed + in transit reached what is owed
    confirmed_on: dict[int, date] = {}  # confirmed alone reached it
    by_year = {}
    for o in obligations:
        by_year.setdefault(o.contract_year_id, []).append(o)
    by_id = {o.pk: o for o in obligations}

    def owed(o) -> int:
        return to_fen(o.amount) - to_fen(o.forfeited)

    def allocate(target_list, t, fen):
        sure = _confirmed_by(t, as_of)
        for o in target_list:
            room = owed(o) - confirmed[o.pk] - transit[o.pk]
            if room <= 0:
                continue
            take = min(room, fen)
            if sure:
                confirmed[o.pk] += take
            else:
                transit[o.pk] += take
            if confirmed[o.pk] + transit[o.pk] == owed(o):
                covered_on[o.pk] = _arrived(t)
            if confirmed[o.pk] == owed(o):
                confirmed_on[o.pk] = _arrived(t)
            fen -= take
            if fen == 0:
                break

    for t in transfers:
        fen = to_fen(t.amount)
        if t.obligation_id is not None:
            if t.obligation_id in by_id:
                allocate([by_id[t.obligation_id]], t, fen)
        elif t.contract_year_id in by_year:
            allocate(by_year[t.contract_year_id], t, fen)

    rows = []
    for o in obligations:
        req, got, moving = owed(o), confirmed[o.pk], transit[o.pk]
        due = o.due_date
        done, covered = confirmed_on.get(o.pk), covered_on.get(o.pk)
        days_late = None
        if got >= req:
            if due is None or done <= due:
                state = "paid_on_time"
            else:
                state, days_late = "paid_late", (done - due).days
        elif got + moving >= req:
            state = "in_transit"
            if due is not None and covered > due:
                days_late = (covered - due).days
        elif due is None:
            state = "awaiting_assessment"
        elif as_of > due:
            state, days_late = "overdue", (as_of - due).days
        else:
            state = "not_due"
        late = due is not None and due < as_of and (covered is None or covered > due)
        rows.append(ObligationStatus(o, from_fen(req), from_fen(got), from_fen(req - got - moving), from_fen(moving),
                                     state, days_late, done, late, amount=o.amount, withheld=o.forfeited))
    return rows
