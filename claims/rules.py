"""Benefit policies as data, and the arithmetic of what a claim pays.

Payable for the year = Σ over bands of (cumulative policy-scope out-of-pocket falling in
the band × the band's ratio), rounded to the fen, then limited by the annual cap. An
episode pays the increase of that rounded yearly figure, so two stays of 8,000 and
20,000 in one year are paid as 28,000 cumulative and never drift by a fen.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

GROUPS = {
    "general": "一般参保人员",
    "extreme_poverty": "特困人员",
    "extreme_poverty_rural": "农村特困人员",
    "orphan": "孤儿",
    "dibao": "低保对象",
    "registered_poor": "建档立卡贫困人口",
    "relapsed_poor": "返贫致贫人口",
    "disabled": "丧失劳动能力的残疾人",
    "low_income_elderly": "低收入家庭60岁以上老年人",
    "low_income_minor": "低收入家庭未成年人",
}
FEN = Decimal("0.01")


@dataclass(frozen=True)
class GroupRule:
    deductible: Decimal
    bands: tuple[tuple[Decimal, Decimal], ...]  # (from, ratio), ascending
    cap: Decimal | None

    def yearly_payable(self, cumulative_oop: Decimal) -> Decimal:
        total = Decimal(0)
        for i, (start, ratio) in enumerate(self.bands):
            end = self.bands[i + 1][0] if i + 1 < len(self.bands) else None
            upper = cumulative_oop if end is None else min(cumulative_oop, end)
            if upper > start:
                total += (upper - start) * ratio
        total = total.quantize(FEN, rounding=ROUND_HALF_UP)
        return total if self.cap is None else min(total, self.cap.quantize(FEN))


@dataclass(frozen=True)
class Policy:
    code: str
    year: int
    name: str
    groups: dict[str, GroupRule]
    unconfirmed: tuple[str, ...] = field(default=())  # notes on parameters the user has still to confirm

    def rule(self, group: str) -> GroupRule:
        if group not in GROUPS:
            raise Refused([problem(lazy_format(_("policy %(code)s"), code=self.code), _("group"),
                                   lazy_format(_("one of %(names)s"), names=", ".join(GROUPS)), group)])
        # A group the document does not treat specially is paid as general.
        return self.groups.get(group) or self.groups["general"]

    def payable(self, group: str, *, oop: Decimal, prior_oop: Decimal = Decimal(0)) -> tuple[Decimal, Decimal]:
        """(yearly payable for the cumulative prior + oop, episode payable = that less the payable for prior alone)."""
        rule = self.rule(group)
        total = rule.yearly_payable(prior_oop + oop)
        return total, total - rule.yearly_payable(prior_oop)


def _number(raw, where, field_name, problems: list) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        problems.append(problem(where, field_name, _("a number"), raw))
        return None
    if not value.is_finite():
        problems.append(problem(where, field_name, _("a finite number"), raw))
        return None
    return value


def _parameters(spec: dict, where, problems: list) -> tuple[dict, list]:
    """Resolve named parameters: {"value": x} or {"times": ["$other", "0.5"]}."""
    values, notes = {}, []
    pending = dict(spec)
    for _round in range(len(pending) + 1):
        progressed = False
        for name, p in list(pending.items()):
            if "times" in p:
                a, b = p["times"]
                refs = [x[1:] for x in (a, b) if isinstance(x, str) and x.startswith("$")]
                if any(r not in values for r in refs):
                    continue
                args = [values[x[1:]] if isinstance(x, str) and x.startswith("$") else _number(x, where, name, problems)
                        for x in (a, b)]
                values[name] = None if None in args else (args[0] * args[1]).quantize(FEN, rounding=ROUND_HALF_UP)
            else:
                raw = p.get("value")
                values[name] = None if raw is None else _number(raw, where, lazy_format(_("parameter %(name)s"),
                                                                                         name=name), problems)
                if not p.get("confirmed", True):
                    notes.append(f"{name} = {raw}（待确认）: {p.get('note', '')}")
            del pending[name]
            progressed = True
        if not pending or not progressed:
            break
    for name in pending:
        problems.append(problem(where, lazy_format(_("parameter %(name)s"), name=name),
                                _("references to defined parameters"), pending[name]))
    return values, notes


def policy_from_dict(data: dict, *, where=None, overrides: dict | None = None,
                     allow_unset: bool = False) -> Policy | None:
    """Parse and check a policy (DESIGN.md format plus named parameters); refuse with every problem.

    `overrides` sets parameters by name ({"urban_disposable_income_2012": "24000"}), as
    the user confirms or enters the figures a document leaves open. With `allow_unset`,
    a parameter still to be entered is no problem (a stored policy may wait for it) and
    None is returned instead of a usable policy.
    """
    problems = []
    where = _("policy file") if where is None else where
    code = data.get("code") or ""
    if code:
        where = lazy_format(_("%(where)s %(code)s"), where=where, code=code)
    else:
        problems.append(problem(where, _("code"), _("a policy code"), _("nothing")))
    spec = {k: dict(v) for k, v in (data.get("parameters") or {}).items()}
    for name, raw in (overrides or {}).items():
        if name not in spec:
            problems.append(problem(where, _("parameter"),
                                    lazy_format(_("one of %(names)s"), names=", ".join(spec) or _("(none)")), name))
            continue
        spec[name] = {"value": raw, "confirmed": True, "note": spec[name].get("note", "")}
    params, notes = _parameters(spec, where, problems)
    unset = []

    def value(raw, field_name):
        if isinstance(raw, str) and raw.startswith("$"):
            name = raw[1:]
            if name not in params:
                problems.append(problem(where, field_name, _("a defined parameter"), raw))
                return None
            if params[name] is None:
                unset.append(name)
                if not allow_unset:
                    problems.append(problem(where, field_name,
                                            lazy_format(_("parameter %(name)s to be set (see its note)"), name=name),
                                            _("not set")))
            return params[name]
        return _number(raw, where, field_name, problems)

    groups = {}
    raw_groups = data.get("groups") or {}
    if "general" not in raw_groups:
        problems.append(problem(where, _("groups"), _("a general group"), ", ".join(raw_groups) or _("none")))
    for g, spec in raw_groups.items():
        if g not in GROUPS:
            problems.append(problem(where, lazy_format(_("group %(group)s"), group=g),
                                    lazy_format(_("one of %(names)s"), names=", ".join(GROUPS)), g))
            continue
        deductible = value(spec.get("deductible"), lazy_format(_("group %(group)s deductible"), group=g))
        bands = []
        for i, band in enumerate(spec.get("bands") or []):
            band_from = lazy_format(_("group %(group)s band %(n)s from"), group=g, n=i + 1)
            band_ratio = lazy_format(_("group %(group)s band %(n)s ratio"), group=g, n=i + 1)
            if not isinstance(band, (list, tuple)) or len(band) != 2:
                problems.append(problem(where, lazy_format(_("group %(group)s band %(n)s"), group=g, n=i + 1),
                                        _("[from, ratio]"), band))
                continue
            start, ratio = value(band[0], band_from), value(band[1], band_ratio)
            if ratio is not None and not (0 <= ratio <= 1):
                problems.append(problem(where, band_ratio, _("a ratio from 0 to 1"), ratio))
            if start is not None and bands and bands[-1][0] is not None and start <= bands[-1][0]:
                problems.append(problem(where, band_from, lazy_format(_("above %(value)s"), value=bands[-1][0]), start))
            bands.append((start, ratio))
        if not bands:
            problems.append(problem(where, lazy_format(_("group %(group)s bands"), group=g), _("at least one band"),
                                    _("none")))
        elif deductible is not None and bands[0][0] is not None and bands[0][0] != deductible:
            problems.append(problem(where, lazy_format(_("group %(group)s band %(n)s from"), group=g, n=1),
                                    lazy_format(_("the deductible %(value)s"), value=deductible), bands[0][0]))
        if deductible is not None and deductible < 0:
            problems.append(problem(where, lazy_format(_("group %(group)s deductible"), group=g), _("≥ 0"), deductible))
        cap = None if spec.get("cap") is None else value(spec.get("cap"), lazy_format(_("group %(group)s cap"), group=g))
        if cap is not None and cap < 0:
            problems.append(problem(where, lazy_format(_("group %(group)s cap"), group=g), _("≥ 0 or null (no cap)"),
                                    cap))
        groups[g] = (deductible, tuple(bands), cap)
    try:
        year = int(data.get("year"))
    except (TypeError, ValueError):
        problems.append(problem(where, _("year"), _("a year"), data.get("year")))
        year = 0
    if problems:
        raise Refused(problems)
    if unset:
        return None
    return Policy(code=code, year=year, name=data.get("name", code),
                  groups={g: GroupRule(d, b, c) for g, (d, b, c) in groups.items()}, unconfirmed=tuple(notes))
