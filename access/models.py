"""Whose books a user may see: regions (with every region under them) and insurers."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Insurer, Region


class Scope(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="scope",
                                verbose_name=_("user"))
    regions = models.ManyToManyField(Region, blank=True, related_name="+", verbose_name=_("regions (with sub-regions)"))
    insurers = models.ManyToManyField(Insurer, blank=True, related_name="+", verbose_name=_("insurers"))
    everything = models.BooleanField(_("every book"), default=False,
                                     help_text=_("Administrators and national auditors: no region or insurer limit."))

    class Meta:
        verbose_name = _("scope")
        verbose_name_plural = _("scopes")

    def __str__(self) -> str:
        return str(self.user)
