"""Check every configured identity provider: discovery, issuer, keys, client credentials."""

from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.idps import (
    IdentityProvider,
    ProviderUnavailable,
    discovery,
    get_providers,
    key_source,
)
from accounts.keys import IssuerUnavailable
from accounts.oauth import TokenEndpointUnreachable, TokenEndpointUnsupported, token_request

PASS, WARN, FAIL = "pass", "warn", "FAIL"


@dataclass
class Check:
    provider: str
    name: str
    result: str
    detail: str


def _keys(provider: IdentityProvider) -> tuple[str, str]:
    """Fetch the key set now, through the key source login and inspection use."""
    try:
        kids = key_source().warm(provider.issuer)
    except IssuerUnavailable as exc:
        return FAIL, f"no key set ({exc})"
    if not kids:
        return FAIL, "no RSA or EC signing keys"
    return PASS, f"{len(kids)} signing keys"


def _client_credentials(
    document: dict, client_id: str, secret: str, scope: str, *, required: bool
) -> tuple[str, str]:
    grant = {"grant_type": "client_credentials"}
    if scope:
        grant["scope"] = scope
    try:
        answer = token_request(
            endpoint=document["token_endpoint"],
            client_id=client_id,
            client_secret=secret,
            grant=grant,
            auth_methods=document.get("token_endpoint_auth_methods_supported"),
            timeout=settings.GATEHOUSE_HTTP_TIMEOUT,
        )
    except (KeyError, TokenEndpointUnreachable) as exc:
        return FAIL, f"token endpoint not reachable ({type(exc).__name__})"
    except TokenEndpointUnsupported as exc:
        return FAIL, str(exc)
    error = answer.error
    if answer.ok and answer.body.get("access_token"):
        return PASS, "credentials accepted"
    said = f"{error}: {answer.body.get('error_description', '')}".strip(": ") or str(answer.status)
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
        check("keys", *_keys(provider)),
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
