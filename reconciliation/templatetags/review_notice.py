from django import template

from reconciliation.selectors import awaiting_review

register = template.Library()


@register.simple_tag(takes_context=True)
def awaiting_review_for(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return awaiting_review(user=request.user)
