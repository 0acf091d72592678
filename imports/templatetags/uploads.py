"""The 上传… button on the changelists that take uploads, for users whose role allows the upload."""

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from imports.services import PERMISSION

register = template.Library()

# changelist (app_label.model_name) → the kind of upload it takes and its button's text
BUTTONS = {
    "reconciliation.bankstatement": ("bank", _("Upload statement…")),
    "claims.claimbatch": ("claims", _("Upload claims file…")),
    "contracts.premiumobligation": ("topup", _("Upload top-up table…")),
}


@register.simple_tag(takes_context=True)
def upload_button(context):
    opts, request = context.get("opts"), context.get("request")
    if opts is None or request is None:
        return ""
    kind, text = BUTTONS.get(opts.label_lower, (None, None))
    if kind is None or not request.user.has_perm(PERMISSION[kind]):
        return ""
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_upload")
    except NoReverseMatch:
        return ""
    return format_html('<li><a href="{}" class="addlink upload-link">{}</a></li>', url, text)
