"""Benefit policies as data (versioned by year); claims come with issue 4's sub-ledger."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.errors import Refused


class BenefitPolicy(models.Model):
    """A region's benefit rules for a year, in the DESIGN.md policy format with named parameters."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    year = models.PositiveSmallIntegerField(_("year"))
    name = models.CharField(_("name"), max_length=200)
    source = models.TextField(_("source document"), blank=True)
    definition = models.JSONField(_("definition"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("benefit policy")
        verbose_name_plural = _("benefit policies")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self):
        from .rules import policy_from_dict

        try:
            policy_from_dict({**self.definition, "code": self.code, "year": self.year}, where="policy",
                             allow_unset=True)
        except Refused as exc:
            raise ValidationError({"definition": [Refused.describe(p) for p in exc.problems]}) from exc
