"""Users with their scope on the same page: administrators give a role (group) and a scope together."""

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import Scope


class ScopeInline(admin.StackedInline):
    model = Scope
    can_delete = False
    filter_horizontal = ("regions", "insurers")
    extra = 1
    max_num = 1


# Django stores a permission's name in English when it creates it ("Can add voucher"): shown here in words
# of the user's language, from what the permission is about (its model and action, or its own msgid).
_ACTIONS = {"add": _("may add"), "change": _("may change"), "delete": _("may delete"), "view": _("may view")}


def permission_label(p) -> str:
    ct = p.content_type
    model = ct.model_class()
    try:
        app = apps.get_app_config(ct.app_label).verbose_name
    except LookupError:
        app = ct.app_label
    what = model._meta.verbose_name if model is not None else ct.model
    action, _sep, rest = p.codename.partition("_")
    if action in _ACTIONS and model is not None and rest == model._meta.model_name:
        return f"{app} | {what} | {_ACTIONS[action]}{what}"
    return f"{app} | {what} | {gettext(p.name)}"


class _PermissionLabels:
    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions") and field is not None:
            field.label_from_instance = permission_label
        return field


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(_PermissionLabels, GroupAdmin):
    pass


@admin.register(User)
class ScopedUserAdmin(_PermissionLabels, UserAdmin):
    inlines = [ScopeInline]
    list_display = ("username", "first_name", "is_active", "is_staff", "groups_shown", "last_login")

    @admin.display(description=_("role"))
    def groups_shown(self, obj):
        return "、".join(obj.groups.values_list("name", flat=True))
