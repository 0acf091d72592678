from django.http import HttpResponseForbidden
from django.template.loader import render_to_string

from audit.services import audit_record


def csrf_failure(request, reason=""):
    """A form posted without its CSRF token (from another site, or a stale page): refused and recorded."""
    audit_record(action="access_refused", request=request, outcome="refused",
                 detail={"reason": f"CSRF: {reason}", "path": request.path, "method": request.method})
    return HttpResponseForbidden(render_to_string("csrf_failure.html", {"reason": reason}))


def _still_recorded(refusal) -> bool:
    from audit.models import AuditEvent

    return refusal["pk"] is None or AuditEvent.objects.filter(pk=refusal["pk"]).exists()


def permission_denied(request, exception=None):
    """Every 403 (handler403): Django's admin refuses many requests itself (no change, add or delete
    permission) and those are recorded here; a refusal `refuse()` already recorded is not recorded twice,
    but recorded again if the view's transaction rolled it back."""
    refusal = getattr(request, "_refusal", None)
    if refusal is not None:
        if not _still_recorded(refusal):
            audit_record(**refusal["event"])
    elif not getattr(request, "_refusal_recorded", False):
        request._refusal_recorded = True
        user = getattr(request, "user", None)
        match = getattr(request, "resolver_match", None)
        detail = {"reason": str(exception or "") or "permission denied", "path": request.path,
                  "method": request.method}
        if match is not None and match.view_name:
            detail["view"] = match.view_name
        audit_record(action="access_refused", request=request, outcome="refused", detail=detail,
                     actor=user if user is not None and user.is_authenticated else "anonymous")
    return HttpResponseForbidden(render_to_string("403.html"))
