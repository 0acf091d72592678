from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = _("Access: roles and scopes")

    def ready(self):
        from django.db.models.signals import post_migrate

        from core.vendor import vendor_strings_mark

        from .admin_scope import scope_admin_site
        from .services import roles_sync

        vendor_strings_mark()
        # Every admin registered by the apps listed before this one is wrapped in its scope.
        scope_admin_site()
        post_migrate.connect(lambda **kw: roles_sync(), sender=self, dispatch_uid="access.roles_sync")
