from django import template

from reconciliation.selectors import awaiting_review

register = template.Library()


@register.simple_tag(takes_context=True)
def awaiting_review_for(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return awaiting_review(user=request.user)


@register.simple_tag(takes_context=True)
def integrity_alerts_for(context):
    """Unacknowledged integrity alerts, for those who may read them (administrators and auditors)."""
    from audit.models import IntegrityAlert

    request = context.get("request")
    if request is None or not request.user.has_perm("audit.view_integrityalert"):
        return []
    return list(IntegrityAlert.objects.filter(acknowledged_at__isnull=True).order_by("-at")[:5])
