"""Reads for premiums: where each obligation stands on a date."""

from dataclasses import dataclass
from datetime import date

from core.money import from_fen, to_fen

from .models import PremiumObligation, PremiumTransfer


@dataclass
class ObligationStatus:
    obligation: PremiumObligation
    required: object
    received: object
    shortfall: object
    in_transit: object
    state: str  # paid_on_time | paid_late | overdue | not_due | awaiting_assessment
    days_late: int | None
    paid_in_full_on: date | None
    late_by_due: bool

    STATE_LABELS = {
        "paid_on_time": "按时足额",
        "paid_late": "逾期后足额",
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


def premium_status(*, as_of: date, fund=None, insurer=None, year: int | None = None,
                   contract_year=None) -> list[ObligationStatus]:
    """Every obligation with what was required, received by `as_of`, the shortfall, and on-time or days late.

    Payments against one obligation go to it; payments against a contract year fill its
    obligations in due-date order (tranches are cumulative, so this is the cumulative test).
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

    received = {o.pk: 0 for o in obligations}
    transit = {o.pk: 0 for o in obligations}
    full_on: dict[int, date] = {}
    by_year = {}
    for o in obligations:
        by_year.setdefault(o.contract_year_id, []).append(o)
    by_id = {o.pk: o for o in obligations}

    def allocate(target_list, t, fen):
        for o in target_list:
            room = to_fen(o.amount) - to_fen(o.forfeited) - received[o.pk]
            if room <= 0:
                continue
            take = min(room, fen)
            received[o.pk] += take
            if not t.insurer_confirmed or _arrived(t) > as_of:
                transit[o.pk] += take
            if received[o.pk] == to_fen(o.amount) - to_fen(o.forfeited):
                full_on[o.pk] = _arrived(t)
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
        req, got = to_fen(o.amount) - to_fen(o.forfeited), received[o.pk]
        done = full_on.get(o.pk)
        due = o.due_date
        days_late = None
        if got >= req:
            if due is None or done <= due:
                state = "paid_on_time"
            else:
                state, days_late = "paid_late", (done - due).days
        elif due is None:
            state = "awaiting_assessment"
        elif as_of > due:
            state, days_late = "overdue", (as_of - due).days
        else:
            state = "not_due"
        late = due is not None and due < as_of and (done is None or done > due)
        rows.append(ObligationStatus(o, from_fen(req), from_fen(got), from_fen(req - got), from_fen(transit[o.pk]),
                                     state, days_late, done, late))
    return rows
