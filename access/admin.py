"""Users with their scope on the same page: administrators give a role (group) and a scope together."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .models import Scope


class ScopeInline(admin.StackedInline):
    model = Scope
    can_delete = False
    filter_horizontal = ("regions", "insurers")
    extra = 1
    max_num = 1


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    inlines = [ScopeInline]
    list_display = ("username", "first_name", "is_active", "is_staff", "groups_shown", "last_login")

    @admin.display(description="角色")
    def groups_shown(self, obj):
        return "、".join(obj.groups.values_list("name", flat=True))
