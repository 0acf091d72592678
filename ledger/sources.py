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
