"""Small read-only tables for the admin: what is stored as JSON is shown as rows of words and values."""

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _


def rows_table(rows, *, head=None):
    """(label, value) rows — or rows of several cells under `head` — as an HTML table; "-" when empty."""
    rows = [tuple(r) for r in rows]
    if not rows:
        return "-"
    width = len(rows[0])
    head_html = format_html("<thead><tr>{}</tr></thead>", format_html_join("", "<th>{}</th>", ((h,) for h in head))) \
        if head else ""
    if head or width != 2:
        cells = "".join("<td>{}</td>" for _ in range(width))
        body = format_html_join("", "<tr>" + cells + "</tr>", rows)
    else:
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="shown">{}<tbody>{}</tbody></table>', head_html, body)


def yes_no(value) -> str:
    return _("yes") if value else _("no")
