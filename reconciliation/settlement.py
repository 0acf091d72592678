"""The annual settlement arithmetic: what the insurer keeps, returns, carries, bears and is paid.

P is the year's premium (tranches, top-ups and the service deposit D), C the claims of the
year settled by the cut-off, E the insurer's operating cost where the terms count it. The
terms are data (DESIGN.md): a retained-margin cap (share of the earned premium, plus an
incentive band by assessment score), whether E is deducted before the cap, where a surplus
goes, the insurer's loss band and what happens beyond it, the fund's share of a policy loss and
how it is settled (paid now, or with next year's premium), the deposit's release bands, and the
bands by which the assessment score scales the operating cost the settlement allows. Every split gives its last part the remainder, so the parts
always add up to the whole.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

FEN = Decimal("0.01")
HUNDRED = Decimal(100)


def _q(x: Decimal) -> Decimal:
    return x.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Band:
    min_score: Decimal
    pct: Decimal


@dataclass(frozen=True)
class Terms:
    retained_cap_pct: Decimal
    cost_deducted: bool
    surplus_to: str  # basic_fund | next_year_fund
    insurer_loss_band_pct: Decimal | None
    beyond_band: str  # deferred | shared
    policy_loss_fund_share_pct: Decimal
    incentive: tuple[Band, ...]
    deposit_release: tuple[Band, ...]
    # The score's share of E the settlement allows (004: 考核结果与经办成本的拨付相挂钩); none: all of E.
    cost_release: tuple[Band, ...] = ()
    # How the fund's share of a policy loss is settled: paid at settlement, or owed with next year's premium.
    policy_loss_settled_by: str = "paid"

    @property
    def splits_policy_loss(self) -> bool:
        """Terms that share only the policy-caused part of a loss need the accountants' split."""
        return self.insurer_loss_band_pct is None and self.beyond_band == "shared"


@dataclass(frozen=True)
class Outcome:
    premium: Decimal
    claims: Decimal
    cost: Decimal
    margin: Decimal
    retained: Decimal
    surplus_returned: Decimal
    surplus_carried: Decimal
    loss: Decimal
    loss_insurer: Decimal
    loss_fund: Decimal
    loss_deferred: Decimal
    deposit_released: Decimal
    deposit_forfeited: Decimal
    # E as the assessment scales it (cost_release bands): what the margin deducts, and what is not allowed.
    cost_allowed: Decimal = Decimal("0.00")
    cost_withheld: Decimal = Decimal("0.00")

    def as_json(self) -> dict:
        return {k: f"{v:.2f}" for k, v in self.__dict__.items()}


def _pct(raw, where, problems, *, allow_none=False) -> Decimal | None:
    if raw is None and allow_none:
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        problems.append(problem(_("settlement terms"), where, _("a percentage 0–100"), raw))
        return None
    if not value.is_finite() or not (0 <= value <= 100):
        problems.append(problem(_("settlement terms"), where, _("a percentage 0–100"), raw))
        return None
    return value


def _bands(raw, key: str, name: str, problems) -> tuple[Band, ...]:
    bands = []
    for i, b in enumerate(raw or [], start=1):
        score = _pct(b.get("min_score"), f"{name} {i} min_score", problems)
        pct = _pct(b.get(key), f"{name} {i} {key}", problems)
        if score is None or pct is None:
            continue
        if bands and score >= bands[-1].min_score:
            problems.append(problem(_("settlement terms"), f"{name} {i} min_score",
                                    lazy_format(_("below %(score)s (bands run highest first)"),
                                                score=bands[-1].min_score), score))
        bands.append(Band(score, pct))
    return tuple(bands)


# paid: the fund pays its share at the settlement; next_year_premium: it becomes an obligation of the next
# contract year, paid like its premium but not part of it (000, 002: 政策性亏损在下一年度筹资中调整).
POLICY_LOSS_SETTLED_BY = ("paid", "next_year_premium")


def terms_from_dict(data: dict) -> Terms:
    """Check and read settlement terms (DESIGN.md format); refuse terms that contradict themselves."""
    problems = []
    cap = _pct(data.get("retained_cap_pct"), "retained_cap_pct", problems)
    if not isinstance(data.get("cost_deducted"), bool):
        problems.append(problem(_("settlement terms"), "cost_deducted", _("true or false"), data.get("cost_deducted")))
    if data.get("surplus_to") not in ("basic_fund", "next_year_fund"):
        problems.append(problem(_("settlement terms"), "surplus_to", _("basic_fund or next_year_fund"),
                                data.get("surplus_to")))
    band = _pct(data.get("insurer_loss_band_pct"), "insurer_loss_band_pct", problems, allow_none=True)
    if data.get("beyond_band") not in ("deferred", "shared"):
        problems.append(problem(_("settlement terms"), "beyond_band", _("deferred or shared"), data.get("beyond_band")))
    share = _pct(data.get("policy_loss_fund_share_pct", 0), "policy_loss_fund_share_pct", problems)
    incentive = _bands(data.get("incentive"), "extra_pct", "incentive", problems)
    release = _bands(data.get("deposit_release"), "release_pct", "deposit_release", problems)
    cost_release = _bands(data.get("cost_release"), "pct", "cost_release", problems)
    if cost_release and data.get("cost_deducted") is False:
        problems.append(problem(_("settlement terms"), "cost_release",
                                _("no cost bands where the cost is not deducted (cost_deducted false)"),
                                len(cost_release)))
    settled_by = data.get("policy_loss_settled_by", "paid")
    if settled_by not in POLICY_LOSS_SETTLED_BY:
        problems.append(problem(_("settlement terms"), "policy_loss_settled_by", _("paid or next_year_premium"),
                                settled_by))
    if problems:
        raise Refused(problems)
    return Terms(cap, data["cost_deducted"], data["surplus_to"], band, data["beyond_band"], share, incentive, release,
                 cost_release, settled_by)



def _band_for(bands: tuple[Band, ...], score: Decimal | None) -> Band | None:
    if score is None:
        return None
    return next((b for b in bands if score >= b.min_score), None)


def deposit_band(terms: Terms, score) -> Band | None:
    """The deposit-release band the score reaches (None: below every band, or no score)."""
    return _band_for(terms.deposit_release, None if score is None else Decimal(str(score)))


def incentive_band(terms: Terms, score) -> Band | None:
    """The incentive band the score reaches, whose extra share adds to the retained cap."""
    return _band_for(terms.incentive, None if score is None else Decimal(str(score)))


def cost_band(terms: Terms, score) -> Band | None:
    """The cost band the score reaches (None: below every band, or no score)."""
    return _band_for(terms.cost_release, None if score is None else Decimal(str(score)))


def cost_allowed(terms: Terms, cost: Decimal, score) -> Decimal:
    """The part of E the settlement allows: all of it without cost bands; else the band's share (none below)."""
    if not terms.cost_release:
        return cost
    band = cost_band(terms, score)
    return _q(cost * band.pct / HUNDRED) if band else Decimal("0.00")


def retained_cap(terms: Terms, earned: Decimal, score) -> Decimal:
    """The most the insurer keeps of a non-negative margin: (cap + incentive) percent of the earned premium."""
    extra = incentive_band(terms, score)
    return _q(earned * (terms.retained_cap_pct + (extra.pct if extra else 0)) / HUNDRED)


def insurer_loss_band(terms: Terms, earned: Decimal, loss: Decimal) -> Decimal:
    """The part of a loss within the insurer's band (all of it where the terms set no band)."""
    return loss if terms.insurer_loss_band_pct is None else min(loss, _q(earned * terms.insurer_loss_band_pct / HUNDRED))


def settlement_compute(*, terms: Terms, premium, claims, cost="0", deposit="0", score=None,
                       policy_loss=None) -> Outcome:
    """The settlement outcome for the given figures; touches no book."""
    problems = []
    figures = {}
    labels = {"premium": _("premium"), "claims": _("claims"), "cost": _("cost"), "deposit": _("deposit")}
    for name, raw in (("premium", premium), ("claims", claims), ("cost", cost), ("deposit", deposit)):
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            problems.append(problem(_("settlement"), labels[name], _("an amount"), raw))
            continue
        if not value.is_finite() or value < 0 or value != value.quantize(FEN):
            problems.append(problem(_("settlement"), labels[name], _("an amount ≥ 0 with at most 2 decimals"), raw))
            continue
        figures[name] = value
    s = None
    if score is not None:
        try:
            s = Decimal(str(score))
        except (InvalidOperation, ValueError):
            s = Decimal(-1)
        if not (0 <= s <= 100):
            problems.append(problem(_("settlement"), _("score"), _("an assessment score 0–100"), score))
    if problems:
        raise Refused(problems)
    p, c, e, d = figures["premium"], figures["claims"], figures["cost"], figures["deposit"]
    if d > p:
        raise Refused([problem(_("settlement"), _("deposit"), lazy_format(_("at most the premium %(premium)s"), premium=p),
                               d)])
    if d and terms.deposit_release and s is None:
        raise Refused([problem(_("settlement"), _("score"), _("the assessment score (it releases the deposit)"),
                               _("none"))])
    if e and terms.cost_release and s is None:
        raise Refused([problem(_("settlement"), _("score"), _("the assessment score (it sets the cost allowed)"),
                               _("none"))])

    # The deposit: released by the first band the score reaches; forfeited below every band.
    if d and terms.deposit_release:
        band = deposit_band(terms, s)
        released = _q(d * band.pct / HUNDRED) if band else Decimal(0)
    else:
        released = d
    forfeited = d - released
    earned = p - forfeited

    allowed = cost_allowed(terms, e, s)
    margin = earned - c - (allowed if terms.cost_deducted else 0)
    zero = Decimal("0.00")
    retained = surplus_returned = surplus_carried = loss = loss_insurer = loss_fund = loss_deferred = zero
    if margin >= 0:
        cap = retained_cap(terms, earned, s)
        retained = min(margin, cap)
        if terms.surplus_to == "basic_fund":
            surplus_returned = margin - retained
        else:
            surplus_carried = margin - retained
    else:
        loss = -margin
        if terms.splits_policy_loss:
            if policy_loss is None:
                raise Refused([problem(_("settlement"), _("policy_loss"),
                                       _("the policy-caused part of the loss (the accountants' determination)"),
                                       _("none: these terms share only policy loss; management loss is the insurer's"))])
            try:
                x = Decimal(str(policy_loss))
            except (InvalidOperation, ValueError):
                x = Decimal(-1)
            if not (0 <= x <= loss) or x != x.quantize(FEN):
                raise Refused([problem(_("settlement"), _("policy_loss"),
                                       lazy_format(_("an amount from 0 to the loss %(loss)s"), loss=f"{loss:.2f}"),
                                       policy_loss)])
            loss_fund = _q(x * terms.policy_loss_fund_share_pct / HUNDRED)
            loss_insurer = loss - loss_fund
        else:
            band = insurer_loss_band(terms, earned, loss)
            beyond = loss - band
            if terms.beyond_band == "deferred":
                loss_deferred = beyond
            else:
                loss_fund = _q(beyond * terms.policy_loss_fund_share_pct / HUNDRED)
            loss_insurer = loss - loss_fund - loss_deferred
    return Outcome(earned, c, e, margin, retained, surplus_returned, surplus_carried, loss, loss_insurer, loss_fund,
                   loss_deferred, released, forfeited, allowed, e - allowed)


def settlement_netting(*, outcome: dict, unpaid, loss_paid_now: bool = True) -> dict:
    """What the fund still owes of the year's premium, set against what the settlement moves between the two
    sides: the insurer's returned surplus one way, the fund's loss share paid now the other (not one owed
    with next year's premium: `loss_paid_now` False). Every gross
    figure is kept; `net` > 0 is what the insurer pays the fund, < 0 what the fund pays the insurer."""
    o = {k: Decimal(str(v)) for k, v in outcome.items()}
    unpaid = Decimal(str(unpaid or 0))
    insurer_pays = o.get("surplus_returned", Decimal(0))
    fund_pays = o.get("loss_fund", Decimal(0)) if loss_paid_now else Decimal("0.00")
    return {"surplus_returned": insurer_pays, "loss_fund": fund_pays, "premium_unpaid": unpaid,
            "net": insurer_pays - fund_pays - unpaid}
