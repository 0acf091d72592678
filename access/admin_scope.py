"""Every admin page within the user's scope: lists, detail pages, form choices and custom views.

`scope_admin_site` wraps each registered ModelAdmin in ScopedAdmin once, at start-up, so no
model can be forgotten; tests/access walks every registered model through every role.
"""

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import ModelChoiceField, ModelMultipleChoiceField

from .scope import scope_filter, scope_q


def refuse(request, *, reason: str, obj=None, model=None, object_id="") -> PermissionDenied:
    """Record a refused attempt in the audit trail and return the exception to raise."""
    from audit.services import audit_record

    detail = {"reason": reason, "path": request.path, "method": request.method}
    if obj is None and model is not None:
        detail.update(model=model._meta.label_lower, object_id=str(object_id))
    event = dict(action="access_refused", actor=request.user, obj=obj, detail=detail, request=request,
                 outcome="refused")
    recorded = audit_record(**event)
    # The 403 handler records every other refusal, and this one again only if the view's transaction
    # (the admin's change and delete views run in one) rolled the event back with everything else.
    request._refusal = {"event": event, "pk": getattr(recorded, "pk", None)}
    return PermissionDenied(reason)


def scoped_get_or_404(request, queryset, pk, *, perm: str | None = None):
    """For custom admin views: the object if the user's scope holds it and their role allows `perm`
    (default: viewing its model); 403, logged, otherwise; 404 when there is no such object."""
    from django.db.models import Model
    from django.http import Http404

    if isinstance(queryset, type) and issubclass(queryset, Model):
        queryset = queryset._default_manager.all()
    model = queryset.model
    perm = perm or f"{model._meta.app_label}.view_{model._meta.model_name}"
    obj = scope_filter(queryset, request.user).filter(pk=pk).first() if str(pk).isdigit() else None
    if obj is None:
        if str(pk).isdigit() and model._default_manager.filter(pk=pk).exists():
            raise refuse(request, reason="object outside the user's scope", model=model, object_id=pk)
        raise Http404
    if not request.user.has_perm(perm):
        raise refuse(request, reason=f"permission {perm} missing", obj=obj)
    return obj


class _ScopedChoice:
    """A choice field that logs an id chosen from outside the user's scope (a forged form post)."""

    def clean(self, value):
        try:
            return super().clean(value)
        except ValidationError:
            values = value if isinstance(value, (list, tuple)) else [value]
            model = self.queryset.model
            forged = [v for v in values if v not in (None, "") and str(v).isdigit()
                      and model._default_manager.filter(pk=v).exists()
                      and not self.queryset.filter(pk=v).exists()]
            if forged and getattr(self, "_request", None) is not None:
                refuse(self._request, reason=f"{model._meta.label_lower} {forged} outside the user's scope",
                       model=model, object_id=",".join(map(str, forged)))
            raise


class ScopedModelChoiceField(_ScopedChoice, ModelChoiceField):
    pass


class ScopedModelMultipleChoiceField(_ScopedChoice, ModelMultipleChoiceField):
    pass


def _scope_field(field, request):
    if field is None or not hasattr(field, "queryset") or field.queryset is None:
        return field
    if scope_q(request.user, field.queryset.model) is None:
        return field
    field.queryset = scope_filter(field.queryset, request.user)
    field.__class__ = (ScopedModelMultipleChoiceField if isinstance(field, ModelMultipleChoiceField)
                       else ScopedModelChoiceField)
    field._request = request
    return field


class ScopedAdmin:
    """Mixed in before each app's own ModelAdmin class."""

    def get_queryset(self, request):
        return scope_filter(super().get_queryset(request), request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and str(object_id).isdigit() and self.model._default_manager.filter(pk=object_id).exists():
            raise refuse(request, reason="object outside the user's scope", model=self.model, object_id=object_id)
        return obj

    def get_list_filter(self, request):
        # A filter by book, fund or insurer offers only those the user may see, never the whole table.
        from django.contrib.admin import RelatedOnlyFieldListFilter
        from django.contrib.admin.utils import get_fields_from_path
        from django.core.exceptions import FieldDoesNotExist

        result = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                try:
                    if get_fields_from_path(self.model, item)[-1].is_relation:
                        item = (item, RelatedOnlyFieldListFilter)
                except (FieldDoesNotExist, Exception):  # noqa: BLE001 - leave unusual filters as they are
                    pass
            result.append(item)
        return result

    def changelist_view(self, request, extra_context=None):
        # Django answers an action it does not offer with "no action selected": a forged post naming one
        # (delete_selected by a reader) is an attempt, refused and recorded as such.
        if request.method == "POST":
            named = [a for a in request.POST.getlist("action") if a]
            offered = self.get_actions(request) if named else {}
            forged = [a for a in named if a not in offered]
            selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
            if forged:
                raise refuse(request, reason=f"action {forged[0]} not offered to the user", model=self.model,
                             object_id=",".join(selected)[:64])
            # Django silently drops selected rows the list does not show: a row outside the user's scope
            # named in the post is a forged selection, refused and recorded, not quietly ignored.
            ids = [v for v in selected if str(v).isdigit()]
            if named and ids:
                shown = set(map(str, self.get_queryset(request).filter(pk__in=ids).values_list("pk", flat=True)))
                hidden = [v for v in ids if v not in shown and self.model._default_manager.filter(pk=v).exists()]
                if hidden:
                    raise refuse(request, reason="selected rows outside the user's scope", model=self.model,
                                 object_id=",".join(hidden)[:64])
        return super().changelist_view(request, extra_context)

    def _app_defines(self, name: str) -> bool:
        """Whether the app's own admin (not Django's) defines `name`: then its service records the act."""
        mro = type(self).__mro__
        owner = next(c for c in mro[mro.index(ScopedAdmin) + 1:] if name in c.__dict__)
        return owner is not admin.ModelAdmin

    def delete_model(self, request, obj):
        # Every deletion is in the audit trail: by the app's service where it has one, else here.
        if not self._app_defines("delete_model"):
            from audit.services import audit_record

            audit_record(action="deleted", actor=request.user, obj=obj, request=request,
                         detail={"model": obj._meta.label_lower, "object": str(obj)[:300]})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        if not self._app_defines("delete_queryset"):
            from audit.services import audit_record

            for obj in queryset:
                audit_record(action="deleted", actor=request.user, obj=obj, request=request,
                             detail={"model": obj._meta.label_lower, "object": str(obj)[:300]})
        super().delete_queryset(request, queryset)

    def get_actions(self, request):
        # An action that names no permission is for those who may change the model, never for readers.
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            actions = {k: v for k, v in actions.items() if getattr(v[0], "allowed_permissions", None)}
        return actions

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return _scope_field(super().formfield_for_foreignkey(db_field, request, **kwargs), request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return _scope_field(super().formfield_for_manytomany(db_field, request, **kwargs), request)


def scope_admin_site(site=admin.site) -> None:
    for model, model_admin in list(site._registry.items()):
        cls = type(model_admin)
        if issubclass(cls, ScopedAdmin):
            continue
        scoped = type(cls.__name__, (ScopedAdmin, cls), {"__module__": cls.__module__})
        site._registry[model] = scoped(model, site)
