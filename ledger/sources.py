"""Where a voucher came from (JournalEntry.source), as the accountants call it.

The stored codes are stable identifiers other code and the seal rely on; people read these words.
"""

import re

from django.utils.translation import gettext_lazy as _

from core.errors import lazy_format

_FIXED = {
    "manual": _("entered by hand"),
    "reversal": _("reversal (红字冲销)"),
    "year-end close": _("year-end closing (结转)"),
    "premium-transfer": _("premium transfer"),
    "fund-advance": _("basic-fund advance"),
    "settlement": _("annual settlement"),
    "import": _("import"),
    "quickstart": _("demo data"),
    "bench": _("benchmark"),
}
_PATTERNS = [
    (re.compile(r"claims batch (?P<n>\d+)"), _("claims batch %(n)s")),
]


def source_label(source: str):
    """The words for a source code; an unknown code is shown as it is."""
    if source in _FIXED:
        return _FIXED[source]
    for pattern, words in _PATTERNS:
        match = pattern.fullmatch(source)
        if match:
            return lazy_format(words, **match.groupdict())
    return source


# -- the document a voucher belongs to --------------------------------------------------------------------
# The ledger knows vouchers, not the documents above it (transfers, claims batches, settlements): each app
# that books vouchers registers how to find its document from a voucher (its source code, its idempotency
# key, a relation), and the voucher page asks here. A finder returns the document (a model instance the
# admin can link to) or None.

_FINDERS: list = []


def source_finder_register(finder) -> None:
    """`finder(entry)` → the document the voucher belongs to, or None; registered once at start-up."""
    if finder not in _FINDERS:
        _FINDERS.append(finder)


def source_document(entry):
    """The document the voucher belongs to: a reversal's original voucher, or what a registered finder names."""
    if entry.source == "reversal" and entry.reverses_id:
        return entry.reverses
    for finder in _FINDERS:
        found = finder(entry)
        if found is not None:
            return found
    return None
