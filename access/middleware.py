from django.conf import settings

from audit.services import audit_record


class ExpiredSessionAudit:
    """A change attempted with a session that has expired is refused by the sign-in redirect;
    this records the attempt (only writes: a stale page being read is not worth an event)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (request.method not in ("GET", "HEAD", "OPTIONS") and settings.SESSION_COOKIE_NAME in request.COOKIES
                and not request.user.is_authenticated and not request.path.endswith("/login/")):
            audit_record(action="access_refused", actor="anonymous", request=request, outcome="refused",
                         detail={"reason": "session expired or signed out", "path": request.path,
                                 "method": request.method})
        return self.get_response(request)
