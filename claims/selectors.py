"""Reads of the claims sub-ledger: where the insurer paid other than the policy, and totals."""

from django.db import connection
from django.db.models import BigIntegerField, BooleanField, Case, Count, ExpressionWrapper, F, Q, Sum, Value, When

from contracts.models import ContractYear
from core.money import from_fen

from .models import Claim, ClaimBatch
from .rules import GROUPS


def counted_claims(batch=None):
    """The claims that count: those of posted batches; or, for reviewing one batch, that batch's."""
    if batch is not None:
        return Claim.objects.filter(batch=batch)
    return Claim.objects.filter(batch__status=ClaimBatch.Status.POSTED)


def claims_discrepancies(*, contract_year: ContractYear, limit: int | None = 1000, batch=None) -> dict:
    """Claims whose paid amount differs from what the policy pays, with over- and under-payment totals
    (claims of posted batches, or of the one batch under review)."""
    qs = counted_claims(batch).filter(contract_year=contract_year, expected__isnull=False).exclude(paid=F("expected"))
    fen = BigIntegerField()
    totals = qs.aggregate(
        n=Count("id"),
        over=Sum(ExpressionWrapper(F("paid") - F("expected"), output_field=fen), filter=Q(paid__gt=F("expected"))),
        under=Sum(ExpressionWrapper(F("expected") - F("paid"), output_field=fen), filter=Q(paid__lt=F("expected"))))
    rows = []
    for c in qs.select_related("hospital").order_by("settled_on", "claim_no")[:limit]:
        rows.append({"claim_no": c.claim_no, "person": c.person[:12], "group": GROUPS.get(c.group_code, c.group_code),
                     "settled_on": c.settled_on, "hospital": c.hospital.name, "oop": c.oop, "expected": c.expected,
                     "paid": c.paid, "difference": from_fen(_fen(c.paid) - _fen(c.expected))})
    pending = counted_claims(batch).filter(contract_year=contract_year, expected__isnull=True).count()
    return {"count": totals["n"], "overpaid": from_fen(totals["over"] or 0), "underpaid": from_fen(totals["under"] or 0),
            "claims": rows, "not_recomputed": pending}


def _fen(money) -> int:
    return int(money.amount * 100)


def claims_totals(*, contract_year: ContractYear, batch=None) -> dict:
    """Per hospital and per settlement month: claims, out-of-pocket, payable by the policy, paid;
    and the claims of the year charged to the next one (settled after the cut-off). Posted batches'
    claims, or those of the one batch under review.

    One pass over the year's claims, grouped by hospital, month and whether charged elsewhere, and summed up
    here: a province's contract year has hundreds of thousands of claims, and four passes took a second."""
    base = counted_claims(batch).filter(contract_year=contract_year)
    month = ("strftime('%%Y-%%m', settled_on)" if connection.vendor == "sqlite" else "to_char(settled_on, 'YYYY-MM')")
    carried = Case(When(charged_to=contract_year, then=Value(False)), default=Value(True), output_field=BooleanField())
    groups = (base.extra(select={"month": month}).annotate(carried=carried)
              .values("hospital__code", "hospital__name", "month", "carried")
              .annotate(claims=Count("id"), oop=Sum("oop"), expected=Sum("expected"), paid=Sum("paid"))
              .order_by())
    hospitals, months, carried_total, total = {}, {}, _empty(), _empty()
    for g in groups:
        h = hospitals.setdefault(g["hospital__code"], {"hospital__code": g["hospital__code"],
                                                       "hospital__name": g["hospital__name"], **_empty()})
        m = months.setdefault(g["month"], {"month": g["month"], **_empty()})
        for target in (h, m, total, *((carried_total,) if g["carried"] else ())):
            _add(target, g)
    return {"hospitals": [hospitals[k] for k in sorted(hospitals)], "months": [months[k] for k in sorted(months)],
            "carried": carried_total, "total": total}


def _empty() -> dict:
    return {"claims": 0, "oop": None, "expected": None, "paid": None}


def _add(target: dict, group: dict) -> None:
    """Add a group's figures; a sum stays None (as SQL's SUM over no value) until a value comes."""
    target["claims"] += group["claims"]
    for key in ("oop", "expected", "paid"):
        if group[key] is not None:
            target[key] = group[key] if target[key] is None else target[key] + group[key]
