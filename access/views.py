from django.http import HttpResponseForbidden
from django.template.loader import render_to_string

from audit.services import audit_record


def csrf_failure(request, reason=""):
    """A form posted without its CSRF token (from another site, or a stale page): refused and recorded."""
    audit_record(action="access_refused", request=request, outcome="refused",
                 detail={"reason": f"CSRF: {reason}", "path": request.path, "method": request.method})
    return HttpResponseForbidden(render_to_string("csrf_failure.html", {"reason": reason}))
