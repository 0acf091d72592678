from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .services import audit_record


@receiver(user_logged_in, dispatch_uid="audit.login")
def _login(sender, request, user, **kwargs):
    audit_record(action="login", actor=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logout(sender, request, user, **kwargs):
    audit_record(action="logout", actor=user if user is not None else "anonymous", request=request)


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # The credentials come with the password masked by Django; only the name is kept.
    audit_record(action="login_failed", actor=str(credentials.get("username", ""))[:150] or "anonymous",
                 request=request, outcome="refused")
