"""Filters of the bank reconciliation workspace: a figure in fen for the page's script, a figure without its sign."""

from django import template
from djmoney.money import Money

from core.money import fmt

register = template.Library()


@register.filter
def fen(value) -> int:
    """Money or a bank line / posting row (its signed amount) → integer fen."""
    value = getattr(value, "amount", value)
    value = getattr(value, "amount", value)  # a line's Money, then its Decimal
    return int(value * 100)


@register.filter
def yuan_abs(value) -> str:
    amount = value.amount if isinstance(value, Money) else value
    return fmt(abs(amount))
