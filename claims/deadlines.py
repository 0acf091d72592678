"""Service time limits (服务时限) as data, per benefit policy: when a payment is due after the materials arrive.

Shanxi (晋医保发〔2019〕52号): an advance of the basic fund is repaid within 10 working days of receiving
the materials; a manual reimbursement is settled within 10 days; a hospital is paid within 10 working days
of its compliant settlement materials (at most 1 month in special cases). The limits live in
data/time_limits.json, loaded into TimeLimit (editable by administrators), never in code.
"""

import calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

from .models import TimeLimit
from .workdays import WorkCalendar

LIMITS_FILE = Path(settings.BASE_DIR) / "data" / "time_limits.json"


@transaction.atomic
def time_limits_load(*, path: Path = LIMITS_FILE, model=TimeLimit) -> int:
    """Store the file's limits not yet in the database (edited ones stay); checked whole first.
    (A migration passes its historical model.)"""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    problems, made = [], 0
    for n, row in enumerate(data.get("limits", []), start=1):
        where = lazy_format(_("time limit %(n)s"), n=n)
        if row.get("kind") not in TimeLimit.Kind.values:
            problems.append(problem(where, _("kind"), "advance / manual / hospital", row.get("kind")))
        if row.get("unit") not in TimeLimit.Unit.values:
            problems.append(problem(where, _("unit"), "working / calendar / months", row.get("unit")))
        if not isinstance(row.get("days"), int) or row["days"] <= 0:
            problems.append(problem(where, _("days"), _("a whole number above 0"), row.get("days")))
        if not row.get("policy") or not row.get("clause"):
            problems.append(problem(where, _("clause"), _("a policy code and the clause it comes from"),
                                    _("(empty)")))
    if problems:
        raise Refused(problems)
    for row in data.get("limits", []):
        _obj, created = model.objects.get_or_create(
            policy=row["policy"], kind=row["kind"],
            defaults={"days": row["days"], "unit": row["unit"], "longest": row.get("longest"),
                      "longest_unit": row.get("longest_unit") or "", "clause": row["clause"]})
        made += created
    return made


def limit_for(*, policy: str, kind: str) -> TimeLimit | None:
    return TimeLimit.objects.filter(policy=policy, kind=kind).first()


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _after(received: date, n: int, unit: str, cal: WorkCalendar, what) -> date:
    if unit == TimeLimit.Unit.WORKING:
        return cal.add_workdays(received, n, what)
    if unit == TimeLimit.Unit.MONTHS:
        return _add_months(received, n)
    return received + timedelta(days=n)


def due_on(*, limit: TimeLimit, received_on: date, cal: WorkCalendar | None = None, what=None) -> date:
    """The last day allowed: the limit counted from the day after the materials were received."""
    return _after(received_on, limit.days, limit.unit, cal or WorkCalendar(), what or _("materials received on"))


def longest_on(*, limit: TimeLimit, received_on: date, cal: WorkCalendar | None = None) -> date | None:
    """The outer limit for special cases (Shanxi's hospitals: at most 1 month), if the policy sets one."""
    if not limit.longest:
        return None
    return _after(received_on, limit.longest, limit.longest_unit, cal or WorkCalendar(), _("materials received on"))


def days_late(*, limit: TimeLimit, due: date, done_on: date, cal: WorkCalendar | None = None) -> int:
    """How late, in the limit's own unit (working days for a working-day limit; days otherwise)."""
    if done_on <= due:
        return 0
    if limit.unit == TimeLimit.Unit.WORKING:
        return (cal or WorkCalendar()).workdays_between(due, done_on)
    return (done_on - due).days


# -- claims: manual reimbursements and hospital payments ------------------------------------------

CHANNEL_KINDS = {"manual": TimeLimit.Kind.MANUAL, "direct": TimeLimit.Kind.HOSPITAL,
                 "advance": TimeLimit.Kind.ADVANCE}


class ClaimDue:
    """Due dates for a claims file's rows, the limits and calendar read once per file."""

    def __init__(self):
        self.cal, self.limits = None, {}

    def ready(self, *, policy: str, channel: str) -> bool:
        """Whether a due date for this policy and channel needs no more reads from the database."""
        kind = CHANNEL_KINDS.get(channel)
        return (policy, kind) in self.limits and (self.limits[(policy, kind)] is None or self.cal is not None)

    def __call__(self, *, policy: str, channel: str, received_on: date) -> date | None:
        """The claim's due date under its policy's limit for its channel; None when the policy sets none.
        Refused when the date lies outside the working-day calendar."""
        kind = CHANNEL_KINDS.get(channel)
        if (policy, kind) not in self.limits:
            self.limits[(policy, kind)] = limit_for(policy=policy, kind=kind) if kind else None
        limit = self.limits[(policy, kind)]
        if limit is None:
            return None
        if self.cal is None:
            self.cal = WorkCalendar()
        return due_on(limit=limit, received_on=received_on, cal=self.cal)


def claim_paid_on(claim) -> date:
    """When the insurer paid: a manual reimbursement (or an advance's repayment) on its settlement date; a
    hospital at the end of the settlement month, the date of the payment voucher claims_post writes."""
    if claim.channel == "direct":
        return date(claim.settled_on.year, claim.settled_on.month,
                    calendar.monthrange(claim.settled_on.year, claim.settled_on.month)[1])
    return claim.settled_on


@dataclass
class LateClaim:
    claim: object
    kind: str
    due_on: date
    paid_on: date
    late: int
    unit: str
    longest_on: date | None


def claims_overdue(*, as_of: date | None = None, contract_year=None, user=None, limit: int | None = 1000,
                   claim_ids=None) -> list:
    """Claims of posted batches paid after the due date their policy's time limit gives from the materials'
    receipt: manual reimbursements (Shanxi: 10 days) and hospital payments (10 working days; the outer
    1 month shown beside). `late` is in the limit's unit (working days or days)."""
    from access.scope import scope_filter

    from .models import Claim, ClaimBatch

    qs = Claim.objects.filter(batch__status=ClaimBatch.Status.POSTED, due_on__isnull=False)
    if contract_year is not None:
        qs = qs.filter(contract_year=contract_year)
    if claim_ids is not None:
        qs = qs.filter(pk__in=claim_ids)
    if as_of is not None:
        qs = qs.filter(due_on__lt=as_of)
    if user is not None:
        qs = scope_filter(qs, user)
    cal, limits, rows = WorkCalendar(), {}, []
    for c in qs.select_related("contract_year", "hospital").order_by("due_on", "claim_no").iterator():
        paid = claim_paid_on(c)
        if paid <= c.due_on:
            continue
        kind = CHANNEL_KINDS[c.channel]
        key = (c.contract_year.benefit_policy, kind)
        if key not in limits:
            limits[key] = limit_for(policy=key[0], kind=kind)
        lim = limits[key]
        if lim is None:
            continue
        rows.append(LateClaim(c, kind, c.due_on, paid, days_late(limit=lim, due=c.due_on, done_on=paid, cal=cal),
                              lim.unit, longest_on(limit=lim, received_on=c.materials_received_on, cal=cal)))
        if limit is not None and len(rows) >= limit:
            break
    return rows
