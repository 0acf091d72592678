"""Money at the boundaries, integer fen inside the database.

SQLite keeps decimals as floating point and sums them inexactly; a ledger must sum
exactly on every database, so amounts the database adds up are stored as fen.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import cn2an
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from djmoney.forms.fields import MoneyField as MoneyFormField
from djmoney.forms.widgets import MoneyWidget
from djmoney.money import Money

from .errors import lazy_format

CNY = "CNY"
FEN = Decimal("0.01")


class AmountError(ValueError):
    """An amount that is not a CNY figure with at most two decimals."""


def to_decimal(value) -> Decimal:
    """Decimal yuan from Money (CNY only), Decimal, int or str; refuses fractions of a fen."""
    if isinstance(value, Money):
        if str(value.currency) != CNY:
            raise AmountError(lazy_format(_("currency must be CNY, found %(currency)s"), currency=value.currency))
        value = value.amount
    if isinstance(value, float):
        raise AmountError(lazy_format(_("amounts are never float, found %(value)s"), value=repr(value)))
    try:
        amount = Decimal(str(value).replace(",", "").strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise AmountError(lazy_format(_("not a number: %(value)s"), value=repr(value))) from None
    if not amount.is_finite():
        raise AmountError(lazy_format(_("not a finite amount: %(value)s"), value=repr(value)))
    if amount != amount.quantize(FEN):
        raise AmountError(lazy_format(_("at most 2 decimal places (fen), found %(value)s"), value=value))
    return amount.quantize(FEN)


def to_fen(value) -> int:
    return int(to_decimal(value) * 100)


def from_fen(fen: int) -> Money:
    return Money(Decimal(fen).scaleb(-2).quantize(FEN), CNY)


def money(value) -> Money:
    return Money(to_decimal(value), CNY)


def quantize(amount: Decimal) -> Decimal:
    """Round a computed figure to the fen, half up (computed figures only; input is never rounded)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def cn_upper(value) -> str:
    """人民币大写: 325.04 → 人民币叁佰贰拾伍元零肆分."""
    amount = to_decimal(value)
    words = cn2an.an2cn(str(abs(amount)), "rmb")
    return ("人民币负" if amount < 0 else "人民币") + words


def fmt(value) -> str:
    """Thousands-separated figure with two decimals, as printed in Chinese books."""
    amount = value.amount if isinstance(value, Money) else Decimal(value)
    return f"{amount:,.2f}"


def _without_separators(value):
    if isinstance(value, str):
        value = value.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    return value


class YuanFormField(forms.DecimalField):
    """An amount in yuan as accountants type or paste it: 24,200,093.50 or ¥1,200.5."""

    def to_python(self, value):
        return super().to_python(_without_separators(value))


class CnyMoneyFormField(MoneyFormField):
    """django-money's field, with an amount part that takes thousands separators."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        amount = self.fields[0]
        self.fields = (YuanFormField(max_value=amount.max_value, min_value=amount.min_value,
                                     max_digits=amount.max_digits, decimal_places=amount.decimal_places,
                                     required=amount.required), self.fields[1])
        self.widget.widgets[0].attrs.update({"inputmode": "decimal", "autocomplete": "off"})


class MoneyAttribute(DeferredAttribute):
    """Whatever is assigned (Decimal, str, int yuan) reads back as Money, as it would after a reload."""

    def __set__(self, instance, value):
        if value is not None and not isinstance(value, Money):
            try:
                value = money(value)
            except AmountError:
                pass  # kept as given: saving it fails in get_prep_value with the reason
        instance.__dict__[self.field.attname] = value


class FenField(models.BigIntegerField):
    """A CNY amount held as integer fen; Python sees django-money's Money."""

    description = _("amount in CNY, stored as integer fen")
    descriptor_class = MoneyAttribute

    @cached_property
    def validators(self):
        # Not BigIntegerField's integer range checks: they would compare Money with int.
        return [*self.default_validators, *self._validators]

    def from_db_value(self, value, expression, connection):
        return None if value is None else from_fen(value)

    def to_python(self, value):
        if value is None or isinstance(value, Money):
            return value
        try:
            return money(value)
        except AmountError as exc:
            raise ValidationError(str(exc), code="invalid") from None

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return 0
        return to_fen(value)

    def formfield(self, **kwargs):
        defaults = {
            "form_class": CnyMoneyFormField,
            "currency_choices": [(CNY, "CNY")],
            "default_currency": CNY,
            "decimal_places": 2,
            "max_digits": 17,
            "min_value": 0,
        }
        # The admin offers its integer widget to every BigIntegerField; an amount needs the money widget.
        widget = kwargs.pop("widget", None)
        if isinstance(widget, MoneyWidget) or (isinstance(widget, type) and issubclass(widget, MoneyWidget)):
            kwargs["widget"] = widget
        defaults.update(kwargs)
        return models.Field.formfield(self, **defaults)
