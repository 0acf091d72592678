"""Refusals: every problem names where, what field, what was expected and what was found.

A problem is written for translation where it is raised: each part may be a lazy gettext string
(`_("a date in an open period")`, or `_("an account of book %(code)s") % {"code": …}` through
`lazy_format`). The problem keeps two faces:

- as a dict, its English text ("entry", "field", "expected", "found"): what the audit trail and tests
  read, the same in every language; `p.code` is the English msgid of `expected` before any value was
  put in, which `--json` adds as "code" (core.commands), stable across languages and values;
- `describe(p)`, the sentence in the active language (Chinese in the admin and the commands' text).
"""

from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext, override


def _format(template, values: dict) -> str:
    return str(template) % {k: str(v) for k, v in values.items()}


_lazy_format = lazy(_format, str)


def lazy_format(template, **values):
    """`template % values`, translated when shown; `template` is a gettext_lazy msgid with %(name)s."""
    text = _lazy_format(template, values)
    text.msgid = _msgid(template)
    return text


def _english(part) -> str:
    with override("en"):
        return str(part)


def _msgid(part) -> str:
    """The untranslated text a part was written with (stable across languages and values)."""
    msgid = getattr(part, "msgid", None)
    if msgid:
        return msgid
    args = getattr(part, "_args", None)  # a gettext_lazy proxy keeps its msgid here
    if args and isinstance(args[0], str):
        return args[0]
    return _english(part)


class Problem(dict):
    """The dict others read (English text), with a stable code and the lazy parts to show in any language."""

    parts: tuple = ()
    code: str = ""


def problem(entry, field, expected, found, *, code: str | None = None) -> dict:
    p = Problem(entry=_english(entry), field=_english(field), expected=_english(expected), found=_english(found))
    p.parts = (entry, field, expected, found)
    p.code = code or _msgid(expected)
    return p


def problem_json(p: dict) -> dict:
    """A problem as --json prints it: the English parts and its stable code."""
    return {**p, "code": getattr(p, "code", "") or p.get("expected", "")}


def describe(p: dict) -> str:
    """One problem as a sentence in the active language: where, what, expected, found."""
    parts = getattr(p, "parts", None) or (p["entry"], p["field"], p["expected"], p["found"])
    entry, field, expected, found = (str(x) for x in parts)
    return gettext("%(entry)s: %(field)s — expected %(expected)s, found %(found)s") % {
        "entry": entry, "field": field, "expected": expected, "found": found}


class Refused(ValidationError):
    """Input that is refused; nothing was written.

    `problems` lists every fault found, each naming where (the entry), what field,
    what was expected and what was found, so a user can fix all of them at once.
    """

    def __init__(self, problems: list[dict]):
        self.problems = problems
        super().__init__([self.describe(p) for p in problems], code="refused")

    @staticmethod
    def describe(p: dict) -> str:
        return describe(p)

    def __str__(self) -> str:
        return "; ".join(self.describe(p) for p in self.problems)
