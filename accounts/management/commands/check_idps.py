"""Check every configured identity provider: discovery, issuer, keys, client credentials."""

from dataclasses import dataclass

import requests
from django.core.management.base import BaseCommand, CommandError

from accounts.idps import IdentityProvider, ProviderUnavailable, discovery, get_providers

HTTP_TIMEOUT = 10
PASS, WARN, FAIL = "pass", "warn", "FAIL"


@dataclass
class Check:
    provider: str
    name: str
    result: str
    detail: str


def _keys(document: dict) -> tuple[str, str]:
    try:
        response = requests.get(document["jwks_uri"], timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        keys = response.json().get("keys", [])
    except (KeyError, requests.RequestException, ValueError, AttributeError) as exc:
        return FAIL, f"no key set ({type(exc).__name__})"
    usable = [k for k in keys if isinstance(k, dict) and k.get("kty") in ("RSA", "EC")]
    if not usable:
        return FAIL, f"{len(keys)} keys, none RSA or EC"
    return PASS, f"{len(usable)} signing keys"


def _client_credentials(
    document: dict, client_id: str, secret: str, scope: str, *, required: bool
) -> tuple[str, str]:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    try:
        response = requests.post(
            document["token_endpoint"],
            data=data,
            auth=(client_id, secret),
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except (KeyError, requests.RequestException) as exc:
        return FAIL, f"token endpoint not reachable ({type(exc).__name__})"
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = str(body.get("error", ""))
    if response.status_code == 200 and body.get("access_token"):
        return PASS, "credentials accepted"
    said = f"{error}: {body.get('error_description', '')}".strip(": ") or str(response.status_code)
    if error == "invalid_client" or not error or required:
        return FAIL, f"refused ({said})"
    # The client authenticated but may not use this grant (RFC 6749 5.2): fine for a login client.
    return WARN, f"client_credentials not allowed ({said})"


def check_provider(provider: IdentityProvider) -> list[Check]:
    def check(name: str, result: str, detail: str) -> Check:
        return Check(provider.nickname, name, result, detail)

    try:
        document = discovery(provider, fresh=True)
    except ProviderUnavailable as exc:
        return [check("discovery", FAIL, str(exc))]
    checks = [
        check("discovery", PASS, provider.discovery_url),
        check("issuer", PASS, document["issuer"]),
        check("keys", *_keys(document)),
        check(
            "client",
            *_client_credentials(
                document, provider.client_id, provider.client_secret, "", required=False
            ),
        ),
    ]
    if provider.scim_client_id:
        checks.append(
            check(
                "SCIM client",
                *_client_credentials(
                    document,
                    provider.scim_client_id,
                    provider.scim_client_secret,
                    provider.scim_scope,
                    required=True,
                ),
            )
        )
    return checks


class Command(BaseCommand):
    help = (
        "Check each identity provider in GATEHOUSE_IDPSECRETS: discovery reachable, issuer "
        "matches, signing keys published, client credentials accepted. Exits non-zero when a "
        "check fails."
    )

    def handle(self, *args, **options):
        providers = get_providers()
        if not providers:
            raise CommandError("No identity provider is configured: set GATEHOUSE_IDPSECRETS.")
        checks = [c for provider in providers.values() for c in check_provider(provider)]
        rows = [("provider", "check", "result", "detail")] + [
            (c.provider, c.name, c.result, c.detail) for c in checks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for provider, name, result, detail in rows:
            line = f"{provider:<{widths[0]}}  {name:<{widths[1]}}  {result:<{widths[2]}}  {detail}"
            style = {FAIL: self.style.ERROR, WARN: self.style.WARNING}.get(result)
            self.stdout.write(style(line) if style else line)
        failed = [c for c in checks if c.result == FAIL]
        if failed:
            names = sorted({c.provider for c in failed})
            raise CommandError(
                f"{len(failed)} check(s) failed for {', '.join(names)}: see the table above."
            )
        self.stdout.write(self.style.SUCCESS(f"All {len(providers)} providers are usable."))
