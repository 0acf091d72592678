"""How a statement's data holds a figure: a string with exactly two decimals, so its digest is exact."""

from decimal import Decimal


def two_places(amount) -> str:
    """Money, Decimal or text as "1234.50" (no separators: templates add them when printing)."""
    value = amount.amount if hasattr(amount, "amount") else Decimal(amount)
    return f"{value:.2f}"
