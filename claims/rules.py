"""Benefit policies as data, and the arithmetic of what a claim pays.

Payable for the year = Σ over bands of (cumulative policy-scope out-of-pocket falling in
the band × the band's ratio), rounded to the fen, then limited by the annual cap. An
episode pays the increase of that rounded yearly figure, so two stays of 8,000 and
20,000 in one year are paid as 28,000 cumulative and never drift by a fen.

A policy pays only the groups it lists or maps (with its document's words as the reason);
a figure its document leaves open is a named parameter that must be entered, never a guess.
"""

import json
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
    # A group the policy pays by another's rule, because its document says so: group → (listed group, its words).
    maps: dict[str, tuple[str, str]] = field(default_factory=dict)
    # A listed group whose rule waits for figures still to be entered: group → ((parameter, its note), …).
    waiting: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def accepted(self) -> list[str]:
        """The groups this policy pays: those it lists with a rule of their own, then those it maps."""
        listed = set(self.groups) | set(self.waiting)
        return [g for g in GROUPS if g in listed] + [g for g in GROUPS if g in self.maps]

    def paid_as(self, group: str) -> str:
        """The listed group whose rule pays `group`; a group the policy neither lists nor maps is refused."""
        if group in self.groups or group in self.waiting:
            return group
        if group in self.maps:
            return self.maps[group][0]
        raise Refused([problem(lazy_format(_("policy %(code)s"), code=self.code), _("group"),
                               lazy_format(_("one of the groups the policy lists: %(names)s"),
                                           names=", ".join(self.accepted())), group)])

    def rule(self, group: str) -> GroupRule:
        """The rule that pays `group`; refused, each missing figure named with its note, while it waits for one."""
        listed = self.paid_as(group)
        if listed in self.waiting:
            where = lazy_format(_("policy %(code)s"), code=self.code)
            raise Refused([problem(where, lazy_format(_("parameter %(name)s"), name=name),
                                   lazy_format(_("a value to be entered: %(note)s"), note=note or _("(no note)")),
                                   _("not set")) for name, note in self.waiting[listed]])
        return self.groups[listed]

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


# Where a band's problem lies: the band, its start, its ratio (one message each, so each translates whole).
PARAMETER_BAND = {"": _("parameter %(name)s band %(n)s"), "from": _("parameter %(name)s band %(n)s from"),
                  "ratio": _("parameter %(name)s band %(n)s ratio")}
GROUP_BAND = {"": _("group %(group)s band %(n)s"), "from": _("group %(group)s band %(n)s from"),
              "ratio": _("group %(group)s band %(n)s ratio")}


def _band_rows(rows, where, problems: list, *, read, label) -> list:
    """Check [from, ratio] rows: each a pair, ratios 0–1, starts ascending. `read(raw, label)` reads a figure
    (a number, or a parameter reference); `label(n, part)` names band n's part ("", "from", "ratio")."""
    bands = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            problems.append(problem(where, label(n, ""), _("[from, ratio]"), row))
            continue
        start, ratio = read(row[0], label(n, "from")), read(row[1], label(n, "ratio"))
        if ratio is not None and not (0 <= ratio <= 1):
            problems.append(problem(where, label(n, "ratio"), _("a ratio from 0 to 1"), ratio))
        if start is not None and bands and bands[-1][0] is not None and start <= bands[-1][0]:
            problems.append(problem(where, label(n, "from"), lazy_format(_("above %(value)s"), value=bands[-1][0]),
                                    start))
        bands.append((start, ratio))
    return bands


def _band_table(raw, name, where, problems: list) -> tuple | None:
    """A band table parameter: [[from, ratio], …] (JSON, as stored) or "FROM:RATIO,FROM:RATIO" (as typed)."""
    label = lazy_format(_("parameter %(name)s"), name=name)
    rows = raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                rows = json.loads(text)
            except ValueError:
                rows = None
        else:
            rows = [part.split(":") for part in text.split(",") if part.strip()]
    if not isinstance(rows, (list, tuple)) or not rows:
        problems.append(problem(where, label, _("a band table [[from, ratio], …] (or FROM:RATIO,FROM:RATIO…)"), raw))
        return None
    before = len(problems)
    bands = _band_rows(rows, where, problems, read=lambda raw, label: _number(raw, where, label, problems),
                       label=lambda n, part: lazy_format(PARAMETER_BAND[part], name=name, n=n))
    return None if len(problems) > before else tuple(bands)


def _parameters(spec: dict, where, problems: list) -> tuple[dict, dict, dict, list]:
    """Resolve named parameters; returns (values, kinds, waits, notes).

    A parameter is a number {"value": x, "min": floor}, a band table {"kind": "bands", "value":
    [[from, ratio], …]} or a product {"times": ["$other", "0.5"]}. A value of null is a figure still
    to be entered: its value is None and waits[name] names it (a product waits for what it multiplies).
    A number below its "min" (the document's floor) is refused. A bad value is None and waits for nothing.
    """
    values, kinds, waits, notes = {}, {}, {}, []
    pending = dict(spec)
    while pending:
        progressed = False
        for name, p in list(pending.items()):
            label = lazy_format(_("parameter %(name)s"), name=name)
            kind = p.get("kind", "number") if isinstance(p, dict) else None
            if kind not in ("number", "bands"):
                problems.append(problem(where, label, _('{"value": …}, {"kind": "bands", "value": …} or '
                                                         '{"times": […]}'), p))
                values[name], kinds[name], waits[name] = None, "number", set()
            elif "times" in p:
                ops = p["times"]
                if not isinstance(ops, (list, tuple)) or len(ops) != 2:
                    problems.append(problem(where, label, _('"times": [a, b]'), ops))
                    values[name], kinds[name], waits[name] = None, "number", set()
                    del pending[name]
                    progressed = True
                    continue
                refs = [x[1:] for x in ops if isinstance(x, str) and x.startswith("$")]
                if any(r not in values for r in refs):
                    continue
                args, wait = [], set()
                for x in ops:
                    if isinstance(x, str) and x.startswith("$"):
                        if kinds[x[1:]] != "number":
                            problems.append(problem(where, label, _("a number parameter"), x))
                            args.append(None)
                            continue
                        args.append(values[x[1:]])
                        wait |= waits[x[1:]]
                    else:
                        args.append(_number(x, where, label, problems))
                values[name] = None if None in args else (args[0] * args[1]).quantize(FEN, rounding=ROUND_HALF_UP)
                kinds[name], waits[name] = "number", wait
            else:
                raw = p.get("value")
                kinds[name], waits[name] = kind, ({name} if raw is None else set())
                if raw is None:
                    values[name] = None
                elif kind == "bands":
                    values[name] = _band_table(raw, name, where, problems)
                else:
                    values[name] = _number(raw, where, label, problems)
                floor = None if p.get("min") is None else _number(p["min"], where, label, problems)
                if floor is not None and values[name] is not None and kind == "number" and values[name] < floor:
                    problems.append(problem(where, label, lazy_format(_("at least %(floor)s (the document's floor)"),
                                                                      floor=floor), values[name]))
                if raw is not None and not p.get("confirmed", True):
                    notes.append(f"{name} = {raw}（待确认）: {p.get('note', '')}")
            del pending[name]
            progressed = True
        if not progressed:
            break
    for name in pending:
        problems.append(problem(where, lazy_format(_("parameter %(name)s"), name=name),
                                _("references to defined parameters"), pending[name]))
    return values, kinds, waits, notes


def _maps(raw_maps, raw_groups: dict, where, problems: list) -> dict[str, tuple[str, str]]:
    """{"group": {"to": "listed group", "reason": "the document's words"}}: checked so that no group is
    both listed and mapped, each maps to a group the policy lists (so no chains, no cycles), with a reason."""
    if not isinstance(raw_maps, dict):
        problems.append(problem(where, _("maps"), _('{"group": {"to": "a listed group", "reason": "…"}}'), raw_maps))
        return {}
    listed = [g for g in raw_groups if g in GROUPS]
    maps = {}
    for g, m in raw_maps.items():
        label = lazy_format(_("maps %(group)s"), group=g)
        if g not in GROUPS:
            problems.append(problem(where, label, lazy_format(_("one of %(names)s"), names=", ".join(GROUPS)), g))
            continue
        if g in raw_groups:
            problems.append(problem(where, label, _("a group the policy does not list with a rule of its own"), g))
            continue
        to = m.get("to") if isinstance(m, dict) else None
        reason = str(m.get("reason") or "").strip() if isinstance(m, dict) else ""
        if to not in listed:
            problems.append(problem(where, lazy_format(_("maps %(group)s to"), group=g),
                                    lazy_format(_("a group the policy lists: %(names)s"), names=", ".join(listed)),
                                    to if to is not None else m))
        if not reason:
            problems.append(problem(where, lazy_format(_("maps %(group)s reason"), group=g),
                                    _("the document's words that put the group there"), _("nothing")))
        if to in listed and reason:
            maps[g] = (to, reason)
    return maps


def policy_from_dict(data: dict, *, where=None, overrides: dict | None = None, allow_unset: bool = True) -> Policy:
    """Parse and check a policy (DESIGN.md format plus named parameters and maps); refuse with every problem.

    `overrides` sets parameters by name ({"urban_disposable_income_2012": "24000"}), as
    the user enters the figures a document leaves open. A figure still to be entered is no
    problem here (a stored policy may wait for it): the groups whose rule uses it are refused
    when asked for (Policy.rule), each missing parameter named with its note. (`allow_unset`
    is accepted for older callers and changes nothing.)
    """
    problems = []
    where = _("policy file") if where is None else where
    code = data.get("code") or ""
    if code:
        where = lazy_format(_("%(where)s %(code)s"), where=where, code=code)
    else:
        problems.append(problem(where, _("code"), _("a policy code"), _("nothing")))
    param_spec = {k: dict(v) if isinstance(v, dict) else v for k, v in (data.get("parameters") or {}).items()}
    for name, raw in (overrides or {}).items():
        if name not in param_spec:
            problems.append(problem(where, _("parameter"), lazy_format(_("one of %(names)s"),
                                                                       names=", ".join(param_spec) or _("(none)")), name))
            continue
        kept = param_spec[name] if isinstance(param_spec[name], dict) else {}
        param_spec[name] = {**{k: v for k, v in kept.items() if k not in ("times", "value", "confirmed")},
                            "value": raw}
    params, kinds, waits, notes = _parameters(param_spec, where, problems)
    unset = set()

    def ref(raw, field_name, kind):
        """A "$name" reference's value (None while unset or bad); problems for an unknown name or the wrong kind."""
        name = raw[1:]
        if name not in params:
            problems.append(problem(where, field_name, _("a defined parameter"), raw))
            return None
        if kinds[name] != kind:
            problems.append(problem(where, field_name, _("a band table parameter") if kind == "bands"
                                    else _("a number parameter"), raw))
            return None
        if params[name] is None:
            unset.update(waits[name])
        return params[name]

    def value(raw, field_name):
        if isinstance(raw, str) and raw.startswith("$"):
            return ref(raw, field_name, "number")
        return _number(raw, where, field_name, problems)

    groups, waiting = {}, {}  # waiting: listed groups whose rule waits for figures
    raw_groups = data.get("groups") or {}
    if "general" not in raw_groups:
        problems.append(problem(where, _("groups"), _("a general group"), ", ".join(raw_groups) or _("none")))
    for g, spec in raw_groups.items():
        if g not in GROUPS:
            problems.append(problem(where, lazy_format(_("group %(group)s"), group=g),
                                    lazy_format(_("one of %(names)s"), names=", ".join(GROUPS)), g))
            continue
        deductible = value(spec.get("deductible"), lazy_format(_("group %(group)s deductible"), group=g))
        bands, no_table = [], False
        raw_bands = spec.get("bands")
        if isinstance(raw_bands, str) and raw_bands.startswith("$"):
            table = ref(raw_bands, lazy_format(_("group %(group)s bands"), group=g), "bands")
            bands, no_table = list(table or ()), table is None  # waiting for the table, or refused already
        elif raw_bands is not None and not isinstance(raw_bands, (list, tuple)):
            problems.append(problem(where, lazy_format(_("group %(group)s bands"), group=g),
                                    _("a list of [from, ratio], or $NAME of a band table parameter"), raw_bands))
            no_table = True
        else:
            bands = _band_rows(raw_bands or [], where, problems, read=value,
                               label=lambda n, part, g=g: lazy_format(GROUP_BAND[part], group=g, n=n))
        if not bands and not no_table:
            problems.append(problem(where, lazy_format(_("group %(group)s bands"), group=g), _("at least one band"),
                                    _("none")))
        elif bands and deductible is not None and bands[0][0] is not None and bands[0][0] != deductible:
            problems.append(problem(where, lazy_format(_("group %(group)s band %(n)s from"), group=g, n=1),
                                    lazy_format(_("the deductible %(value)s"), value=deductible), bands[0][0]))
        if deductible is not None and deductible < 0:
            problems.append(problem(where, lazy_format(_("group %(group)s deductible"), group=g), _("≥ 0"), deductible))
        cap = None if spec.get("cap") is None else value(spec.get("cap"), lazy_format(_("group %(group)s cap"), group=g))
        if cap is not None and cap < 0:
            problems.append(problem(where, lazy_format(_("group %(group)s cap"), group=g), _("≥ 0 or null (no cap)"),
                                    cap))
        if unset:
            waiting[g] = tuple((name, str(param_spec[name].get("note") or "")) for name in sorted(unset))
            unset.clear()
        else:
            groups[g] = (deductible, tuple(bands), cap)
    maps = _maps(data.get("maps") or {}, raw_groups, where, problems)
    try:
        year = int(data.get("year"))
    except (TypeError, ValueError):
        problems.append(problem(where, _("year"), _("a year"), data.get("year")))
        year = 0
    if problems:
        raise Refused(problems)
    return Policy(code=code, year=year, name=data.get("name", code),
                  groups={g: GroupRule(d, b, c) for g, (d, b, c) in groups.items()}, unconfirmed=tuple(notes),
                  maps=maps, waiting=waiting)
