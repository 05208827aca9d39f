"""The Django side of the token inspector: which issuers are trusted and which storage elements
people can pick as a target. Keys come from the process's one key cache, the one login uses
(accounts.idps.key_source).

Trusted issuers are the configured identity providers (idpsecrets.json, each with its optional
`storage_base_path`) plus `GATEHOUSE_EXTRA_ISSUERS`, a JSON list such as
`[{"issuer": "https://wlcg.cloud.cnaf.infn.it/", "storage_base_path": "/wlcg", "name": "WLCG"}]`.
Storage elements are the registry in tokens.models.StorageElement (admin, `manage.py
storage_element`): its `audiences`, its `base_path` for Gatehouse's own issuer, and
`issuer_base_paths` saying where other issuers' areas start on it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from accounts.idps import get_providers, key_source
from tokens.inspection import (
    RUCIO_AUDIENCE,
    Capabilities,
    Inspection,
    TrustedIssuer,
    inspect_token,
)
from tokens.models import StorageElement


@dataclass
class TokenReport:
    """An inspection plus the capabilities at the storage element the person chose."""

    inspection: Inspection
    target: str | None
    element: StorageElement | None = None
    capabilities: Capabilities | None = None


def _json_list(name: str, raw: str) -> list[dict]:
    try:
        value = json.loads(raw or "[]")
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON ({exc}); fix the setting.") from exc
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ImproperlyConfigured(f"{name} must be a JSON list of objects.")
    return value


@functools.cache
def _extra_issuers(raw: str) -> tuple[TrustedIssuer, ...]:
    found = []
    for entry in _json_list("GATEHOUSE_EXTRA_ISSUERS", raw):
        try:
            found.append(
                TrustedIssuer(
                    issuer=entry["issuer"],
                    storage_base_path=entry.get("storage_base_path", "/"),
                    name=entry.get("name", ""),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"GATEHOUSE_EXTRA_ISSUERS entry {entry!r} is not usable: {exc}"
            ) from exc
    return tuple(found)


def trusted_issuers() -> dict[str, TrustedIssuer]:
    """Configured providers first, then the extra issuers; keyed by the exact `iss` string."""
    issuers = {
        p.issuer: TrustedIssuer(p.issuer, storage_base_path=p.storage_base_path, name=p.label)
        for p in get_providers().values()
    }
    for extra in _extra_issuers(settings.GATEHOUSE_EXTRA_ISSUERS):
        issuers.setdefault(extra.issuer, extra)
    return issuers


def storage_elements() -> list[StorageElement]:
    """The enabled storage elements, by name."""
    return list(StorageElement.objects.filter(enabled=True).order_by("name"))


def storage_element(name: str) -> StorageElement | None:
    return StorageElement.objects.filter(enabled=True, name=name).first()


def target_choices() -> list[tuple[str, str]]:
    """Targets for a form: storage elements by name, then Rucio."""
    choices = [(f"se:{se.name}", f"{se.name} ({se.audience})") for se in storage_elements()]
    return [*choices, (RUCIO_AUDIENCE, f"Rucio (audience {settings.GATEHOUSE_EXPECTED_AUDIENCE})")]


@sensitive_variables()  # error reports hide every local here and in the core frames below
def inspect(
    raw: str,
    *,
    target: str | None = None,
    expected_scope: str | None = None,
) -> TokenReport:
    """Inspect a token against a target: `se:<name>`, `rucio`, an audience URL, or None."""
    element = storage_element(target[3:]) if target and target.startswith("se:") else None
    if element is not None:
        audience = element.audience
    elif target == RUCIO_AUDIENCE:
        # Rucio's [oidc] expected_audience / expected_scope, as this data centre configures them.
        audience = settings.GATEHOUSE_EXPECTED_AUDIENCE
        expected_scope = expected_scope or settings.GATEHOUSE_EXPECTED_SCOPE
    else:
        audience = target
    inspection = inspect_token(
        raw,
        issuers=trusted_issuers(),
        jwks=key_source(),
        audience=audience or None,
        expected_scope=expected_scope,
    )
    capabilities = inspection.capabilities
    if capabilities is not None and element is not None and inspection.issuer is not None:
        capabilities = capabilities.at(
            element.base_path_for(inspection.issuer.issuer, inspection.issuer.storage_base_path)
        )
    return TokenReport(inspection, audience or None, element, capabilities)
