"""{{ amount|yuan }}: 1,234,567.89 — the comma grouping Chinese books print (Django's zh-hans format has none)."""

from django import template

from core.money import fmt

register = template.Library()


@register.filter
def yuan(value):
    if value is None or value == "":
        return ""
    return fmt(value)
