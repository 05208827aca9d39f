"""Writes for campaigns: each a keyword-only function in a transaction."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import PosixIdCounter


def _posix_range(kind: str) -> tuple[int, int]:
    if kind == "uid":
        return settings.GATEHOUSE_UID_MIN, settings.GATEHOUSE_UID_MAX
    if kind == "gid":
        return settings.GATEHOUSE_GID_MIN, settings.GATEHOUSE_GID_MAX
    raise ValueError(f"unknown POSIX id kind {kind!r}")


@transaction.atomic
def posix_id_allocate(*, kind: str) -> int:
    """The next never-used uid or gid; the counter row lock serialises concurrent callers."""
    low, high = _posix_range(kind)
    PosixIdCounter.objects.get_or_create(kind=kind, defaults={"next_value": low})
    counter = PosixIdCounter.objects.select_for_update().get(kind=kind)
    value = max(counter.next_value, low)
    if value > high:
        raise ValidationError(
            f"The {kind} range {low}-{high} is used up: raise GATEHOUSE_{kind.upper()}_MAX."
        )
    counter.next_value = value + 1
    counter.save(update_fields=["next_value"])
    return value
