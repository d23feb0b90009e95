"""`{% proconnect_enabled as x %}`: whether the sign-in page offers ProConnect (settings)."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def proconnect_enabled() -> bool:
    return bool(getattr(settings, "PROCONNECT_ENABLED", False))
