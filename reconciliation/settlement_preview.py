"""Reads for the settlement pages: the figures from the books and the arithmetic step by step, writing nothing.

`settlement_preview` is what `settlement_draft` would record for a contract year today (the same figures,
`services.settlement_figures`, and the same arithmetic, `settlement.settlement_compute`); `settlement_explain`
lays out, for given figures and terms (a preview's, or a stored settlement's), each step of that arithmetic
with the band that applied. Neither computes an amount of its own: every figure is the outcome's, or comes
from the helpers settlement_compute itself uses.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from contracts.models import ContractYear
from core.errors import Refused, lazy_format
from core.money import fmt

from .models import Settlement
from .settlement import (
    Outcome,
    cost_band,
    deposit_band,
    incentive_band,
    insurer_loss_band,
    retained_cap,
    settlement_compute,
    settlement_netting,
    terms_from_dict,
)


@dataclass
class Step:
    label: str
    formula: str
    amount: Decimal | None = None


@dataclass
class Explained:
    """Figures, terms, the outcome (None when refused) and the steps that lead to it."""

    figures: dict
    terms: dict
    outcome: Outcome | None = None
    steps: list[Step] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    needs_policy_loss: bool = False  # the terms share only a policy-caused loss: the accountants determine it
    # Premium still unpaid by the as-of date: settled only on the preparer's decision (with a reason), netted.
    needs_unpaid_decision: bool = False
    netting: dict = field(default_factory=dict)  # settlement_netting: gross figures and the net
    loss_paid_now: bool = True  # False: the fund's loss share is owed with next year's premium

    @property
    def outcome_json(self) -> dict:
        return self.outcome.as_json() if self.outcome is not None else {}


def _m(x) -> str:
    return fmt(Decimal(x))


def _pct(x) -> str:
    return f"{Decimal(x).normalize():f}%"


def settlement_explain(*, terms: dict, premium, claims, cost, deposit, score, policy_loss=None, premium_paid=None,
                       premium_unpaid=None, unpaid_reason: str = "") -> Explained:
    """The outcome of settlement_compute for these figures, each step shown; a refusal is kept, not raised.

    Where the terms split a loss into policy and management parts and no policy loss is given, the steps
    stop at the loss and `needs_policy_loss` is set. With the premium paid and unpaid (the deposit apart),
    the steps end with what the fund still owes netted against what the settlement moves; unpaid premium
    without the preparer's reason sets `needs_unpaid_decision`."""
    figures = {"premium": Decimal(premium), "claims": Decimal(claims), "cost": Decimal(cost),
               "deposit": Decimal(deposit), "score": score, "policy_loss": policy_loss,
               "premium_paid": Decimal(premium_paid) if premium_paid is not None else None,
               "premium_unpaid": Decimal(premium_unpaid or 0), "unpaid_reason": unpaid_reason}
    ex = Explained(figures=figures, terms=terms)
    ex.needs_unpaid_decision = bool(figures["premium_unpaid"]) and not unpaid_reason.strip()
    try:
        t = terms_from_dict(terms)
    except Refused as exc:
        ex.problems = list(exc.problems)
        return ex
    try:
        ex.outcome = settlement_compute(terms=t, premium=premium, claims=claims, cost=cost, deposit=deposit,
                                        score=score, policy_loss=policy_loss)
        o = ex.outcome
    except Refused as exc:
        if t.splits_policy_loss and policy_loss is None and [p["field"] for p in exc.problems] == ["policy_loss"]:
            # Everything up to the loss holds whatever the split; the split itself waits for the accountants.
            ex.needs_policy_loss = True
            ex.problems = list(exc.problems)
            o = settlement_compute(terms=t, premium=premium, claims=claims, cost=cost, deposit=deposit, score=score,
                                   policy_loss="0.00")
        else:
            ex.problems = list(exc.problems)
            return ex
    ex.loss_paid_now = t.policy_loss_settled_by == "paid"
    _steps(ex, t, o, score, policy_loss)
    if ex.outcome is not None and figures["premium_paid"] is not None:
        _netting_steps(ex)
    return ex


def _netting_steps(ex: Explained) -> None:
    f = ex.figures
    n = ex.netting = settlement_netting(outcome=ex.outcome_json, unpaid=f["premium_unpaid"],
                                        loss_paid_now=ex.loss_paid_now)
    steps = ex.steps
    steps.append(Step(_("premium paid by the as-of date (deposit apart)"), _("counted transfers"), f["premium_paid"]))
    steps.append(Step(_("premium still owed by the fund"), _("P − D − paid"), n["premium_unpaid"]))
    if not n["premium_unpaid"]:
        return
    if ex.needs_unpaid_decision:
        steps.append(Step(_("decision on the unpaid premium"),
                          _("required: the preparer decides, with a reason, to settle on the premium owed"), None))
    else:
        steps.append(Step(_("decision on the unpaid premium"),
                          lazy_format(_("settle on the premium owed, the unpaid part netted: %(reason)s"),
                                      reason=f["unpaid_reason"]), None))
    formula = _("returned − fund's loss share − premium still owed")
    if n["net"] >= 0:
        steps.append(Step(_("net: the insurer pays the fund"), formula, n["net"]))
    else:
        steps.append(Step(_("net: the fund pays the insurer"), formula, -n["net"]))


def _steps(ex: Explained, t, o: Outcome, score, policy_loss) -> None:
    figures = ex.figures
    p, c, e, d = figures["premium"], figures["claims"], figures["cost"], figures["deposit"]
    steps = ex.steps
    steps.append(Step(_("premium P (all tranches, top-ups and deposit)"), "P", p))
    if d:
        steps.append(Step(_("service deposit D (held back from P)"), "D", d))
        if t.deposit_release:
            band = deposit_band(t, score)
            if band is not None:
                which = lazy_format(_("score %(score)s reaches the band ≥ %(min)s: %(pct)s of D released"),
                                    score=score, min=band.min_score, pct=_pct(band.pct))
            else:
                which = lazy_format(_("score %(score)s is below every band: D forfeited"), score=score)
        else:
            which = _("no release bands in the terms: D released in full")
        steps.append(Step(_("deposit released"), which, o.deposit_released))
        steps.append(Step(_("deposit forfeited"), _("D − released"), o.deposit_forfeited))
    steps.append(Step(_("premium earned P′"), _("P − forfeited") if d else "P", o.premium))
    steps.append(Step(_("claims C charged to the year"), "C", c))
    if t.cost_deducted and t.cost_release:
        steps.append(Step(_("operating cost E"), "E", e))
        band = cost_band(t, score)
        if band is not None:
            which = lazy_format(_("score %(score)s reaches the band ≥ %(min)s: %(pct)s of E allowed"),
                                score=score, min=band.min_score, pct=_pct(band.pct))
        else:
            which = lazy_format(_("score %(score)s is below every band: none of E allowed"), score=score)
        steps.append(Step(_("operating cost allowed E′ (by the assessment)"), which, o.cost_allowed))
        steps.append(Step(_("operating cost not allowed"), _("E − E′"), o.cost_withheld))
        steps.append(Step(_("margin"), "P′ − C − E′", o.margin))
    elif t.cost_deducted:
        steps.append(Step(_("operating cost E"), "E", e))
        steps.append(Step(_("margin"), "P′ − C − E", o.margin))
    else:
        steps.append(Step(_("margin"), lazy_format(_("P′ − C (cost E %(cost)s not deducted under these terms)"),
                                                   cost=_m(e)), o.margin))
    if o.margin >= 0:
        cap = retained_cap(t, o.premium, score)
        extra = incentive_band(t, score)
        pct = _pct(t.retained_cap_pct) + (f" + {_pct(extra.pct)}" if extra else "")
        formula = lazy_format(_("(%(pct)s) × P′"), pct=pct)
        if extra:
            formula = lazy_format(_("%(formula)s; incentive band ≥ %(min)s reached"), formula=formula,
                                  min=extra.min_score)
        steps.append(Step(_("cap on what the insurer retains"), formula, cap))
        steps.append(Step(_("retained by the insurer"), lazy_format(_("min(margin, cap)")), o.retained))
        if t.surplus_to == "basic_fund":
            steps.append(Step(_("surplus returned to the basic medical insurance fund"), _("margin − retained"),
                              o.surplus_returned))
        else:
            steps.append(Step(_("surplus carried to next year's critical-illness fund"), _("margin − retained"),
                              o.surplus_carried))
        return
    steps.append(Step(_("loss"), _("−margin"), o.loss))
    if t.splits_policy_loss:
        if ex.needs_policy_loss:
            steps.append(Step(_("policy-caused loss"),
                              _("to be determined by the accountants (management loss is the insurer's)"), None))
            return
        steps.append(Step(_("policy-caused loss (accountants' determination)"), "X", Decimal(policy_loss)))
        steps.append(Step(_("loss borne by the fund"), lazy_format(_("%(pct)s × X"),
                                                                  pct=_pct(t.policy_loss_fund_share_pct)), o.loss_fund))
        steps.append(Step(_("loss borne by the insurer"), _("loss − fund's share"), o.loss_insurer))
        _loss_next_year(ex, o)
        return
    band = insurer_loss_band(t, o.premium, o.loss)
    if t.insurer_loss_band_pct is None:
        steps.append(Step(_("within the insurer's band"), _("no band: all of the loss"), band))
    else:
        steps.append(Step(_("within the insurer's band"),
                          lazy_format(_("min(loss, %(pct)s × P′)"), pct=_pct(t.insurer_loss_band_pct)), band))
    steps.append(Step(_("beyond the band"), _("loss − band"), o.loss - band))
    if t.beyond_band == "deferred":
        steps.append(Step(_("deferred to next year's policy"), _("beyond the band"), o.loss_deferred))
    else:
        steps.append(Step(_("loss borne by the fund"), lazy_format(_("%(pct)s × beyond the band"),
                                                                  pct=_pct(t.policy_loss_fund_share_pct)), o.loss_fund))
    steps.append(Step(_("loss borne by the insurer"), _("loss − fund's share − deferred"), o.loss_insurer))
    _loss_next_year(ex, o)


def _loss_next_year(ex: Explained, o: Outcome) -> None:
    if o.loss_fund and not ex.loss_paid_now:
        ex.steps.append(Step(_("fund's share owed with next year's premium"),
                             _("an obligation of next year's contract year, paid like premium, not part of its P"),
                             o.loss_fund))


@dataclass
class Preview:
    contract_year: ContractYear
    as_of: date
    explained: Explained
    existing: Settlement | None
    cutoff_passed: bool


def settlement_preview(*, contract_year: ContractYear, as_of: date, policy_loss=None,
                       unpaid_reason: str | None = None) -> Preview:
    """What settlement_draft would record for the contract year as of `as_of`, from the books; writes nothing."""
    from .services import settlement_figures

    cy = contract_year
    f = settlement_figures(contract_year=cy, as_of=as_of)
    existing = Settlement.objects.filter(contract_year=cy).first()
    explained = settlement_explain(terms=cy.settlement_terms, premium=f["premium"], claims=f["claims"],
                                   cost=f["cost"], deposit=f["deposit"], score=f["score"], policy_loss=policy_loss,
                                   premium_paid=f["premium_paid"], premium_unpaid=f["premium_unpaid"],
                                   unpaid_reason=unpaid_reason if unpaid_reason is not None else (
                                       existing.unpaid_reason if existing is not None else ""))
    return Preview(cy, as_of, explained, existing, as_of > cy.cutoff)


def settlement_explained(*, settlement: Settlement) -> Explained:
    """The stored settlement's arithmetic, from its own figures and terms (as recorded, not as the books are now)."""
    s = settlement
    return settlement_explain(terms=s.terms, premium=s.premium.amount, claims=s.claims.amount, cost=s.cost.amount,
                              deposit=s.deposit.amount, score=s.score,
                              policy_loss=s.policy_loss.amount if s.policy_loss is not None else None,
                              premium_paid=s.premium_paid.amount if s.premium_paid is not None else None,
                              premium_unpaid=s.premium_unpaid.amount, unpaid_reason=s.unpaid_reason)


def contract_years_to_settle(*, user, today: date):
    """Contract years in the user's scope whose cut-off has passed and whose settlement is not posted."""
    from access.scope import scope_filter

    qs = ContractYear.objects.filter(cutoff__lt=today).exclude(settlement__status=Settlement.Status.POSTED)
    return scope_filter(qs, user).select_related("contract", "contract__fund", "contract__insurer").order_by(
        "-year", "contract__code")
