from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReconciliationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reconciliation"
    verbose_name = _("settlement and reconciliation")

    def ready(self):
        from . import source_links

        source_links.register()  # the voucher page links each voucher to its transfer, claims batch or settlement
