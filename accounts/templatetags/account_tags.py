"""What accounts adds to every page: one display name per identity provider."""

from django import template

from accounts.idps import get_provider

register = template.Library()


@register.filter
def provider_label(nickname: str) -> str:
    """The provider's display name ("Dev IAM") for its nickname ("dev"); the nickname if unknown."""
    provider = get_provider(nickname) if nickname else None
    return provider.label if provider else nickname
