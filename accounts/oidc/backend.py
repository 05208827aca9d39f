"""mozilla-django-oidc's authentication backend, for several providers and strict tokens.

What changes from the parent: the provider (endpoints, client id and secret) is chosen per login
instead of read from global OIDC_* settings; the ID token is checked by `accounts.oidc.verify`;
the userinfo `sub` must be the ID token's; accounts are found by the (issuer, sub) identity,
never by email; unknown identities follow the provider's `unknown_users` policy; the tokens go
to the app that keeps them (accounts.signals), never into the session.
"""

import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.views.decorators.debug import sensitive_variables
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import services
from accounts.http import client_ip
from accounts.identities import oidc_identity
from accounts.idps import IdentityProvider, ProviderUnavailable, discovery
from accounts.models import Account, Identity
from accounts.oauth import TokenEndpointUnreachable, TokenEndpointUnsupported, token_request
from accounts.oidc import AGAIN, LoginRefused, RegistrationRequired, VerifiedLogin
from accounts.oidc.verify import verify_jwt
from accounts.selectors import account_by_id, identity_find
from accounts.sessions import account_read_with_session
from accounts.signals import login_tokens_received

log = logging.getLogger(__name__)


@dataclass
class CompletedLogin:
    """What the callback view needs after a successful login (set on the request)."""

    provider: IdentityProvider
    identity: Identity
    token_id: int | None  # the row that keeps the login's tokens (see accounts.signals)


class ProviderBackend(OIDCAuthenticationBackend):
    """Log in through whichever configured provider the login was started with."""

    def __init__(self, *args, **kwargs):
        # The parent reads one provider's endpoints from OIDC_* settings here; ours come per login.
        self.UserModel = get_user_model()

    # Error reports hide every local here and in the frames below (tokens, client secret).
    @sensitive_variables()
    def authenticate(
        self,
        request,
        provider: IdentityProvider | None = None,
        code: str | None = None,
        nonce: str | None = None,
        code_verifier: str | None = None,
        redirect_uri: str | None = None,
        **kwargs,
    ):
        """Exchange the code, check the tokens, find the account. Raises LoginRefused."""
        if request is None or provider is None or not code or not nonce or not code_verifier:
            return None  # not an OIDC callback (e.g. a password login to the admin site)
        self.request = request
        self.provider = provider
        try:
            self.document = discovery(provider)
        except ProviderUnavailable as exc:
            raise LoginRefused(
                "provider_unavailable",
                f"{provider.label} is unavailable right now. Try again in a few minutes.",
                status=503,
                detail=str(exc),
            ) from exc
        self.token_response = self.get_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        id_token = self.token_response.get("id_token")
        access_token = self.token_response.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str) or not access_token:
            raise LoginRefused(
                "incomplete_response",
                f"{provider.label} answered without an identity token or access token. {AGAIN}",
            )
        payload = self.verify_token(id_token, nonce=nonce)
        account = self.get_or_create_user(access_token, id_token, payload)
        if account.status != Account.Status.ACTIVE:
            refusal = LoginRefused(
                f"account_{account.status.lower()}",
                f"Your account {account.name} is {account.get_status_display()}"
                + (f": {account.status_reason}" if account.status_reason else "")
                + ". Contact the data centre if you think this is a mistake.",
            )
            refusal.account = account
            raise refusal
        kept = login_tokens_received.send(
            sender=type(self),
            account=account,
            identity=self.identity,
            idp=provider.nickname,
            token_response=self.token_response,
            ip=client_ip(request),
        )
        token_id = next((answer for _receiver, answer in kept if answer is not None), None)
        request.completed_login = CompletedLogin(provider, self.identity, token_id)
        return account

    def get_token(self, payload):
        """POST to the provider's token endpoint; the client authenticates the way it offers."""
        provider = self.provider
        try:
            answer = token_request(
                endpoint=self.document.get("token_endpoint") or "",
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                grant=payload,
                auth_methods=self.document.get("token_endpoint_auth_methods_supported"),
                timeout=settings.GATEHOUSE_HTTP_TIMEOUT,
            )
        except TokenEndpointUnreachable as exc:
            raise LoginRefused(
                "token_endpoint_unavailable",
                f"{provider.label} did not answer when asked for the login's tokens. "
                "Try again in a few minutes.",
                status=503,
                detail=str(exc),
            ) from exc
        except TokenEndpointUnsupported as exc:
            raise LoginRefused(
                "client_auth_unsupported",
                f"{provider.label} cannot be used for logins here: {exc}",
                status=503,
                detail=str(exc),
            ) from exc
        if not answer.ok:
            raise LoginRefused(
                "code_rejected",
                f"{provider.label} did not accept this login ({answer.error or answer.status}). "
                f"{AGAIN}",
                detail=f"token endpoint {answer.status} {answer.error}",
            )
        return answer.body

    def verify_token(self, token, **kwargs):
        """The ID token, strictly checked (see accounts.oidc.verify); returns its claims."""
        return verify_jwt(self.provider, token, nonce=kwargs.get("nonce"))

    def get_userinfo(self, access_token, id_token, payload):
        """Claims from the userinfo endpoint, which must describe the ID token's subject."""
        endpoint = self.document.get("userinfo_endpoint")
        if not endpoint:
            return {}
        label = self.provider.label
        try:
            response = requests.get(
                endpoint,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=settings.GATEHOUSE_HTTP_TIMEOUT,
                allow_redirects=False,
            )
            response.raise_for_status()
            if response.headers.get("content-type", "").lower().startswith("application/jwt"):
                claims = verify_jwt(
                    self.provider,
                    response.text,
                    what="userinfo",
                    required=("iss", "sub", "aud"),
                )
            else:
                claims = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise LoginRefused(
                "userinfo_failed",
                f"{label} did not tell who logged in (its userinfo endpoint failed). {AGAIN}",
                detail=type(exc).__name__,
            ) from exc
        if not isinstance(claims, dict) or claims.get("sub") != payload["sub"]:
            raise LoginRefused(
                "userinfo_sub_mismatch",
                f"{label} described someone else at its userinfo endpoint than in the identity "
                f"token. {AGAIN}",
            )
        return claims

    def _identity_string(self, claims) -> str:
        try:
            return oidc_identity(issuer=claims["iss"], sub=claims["sub"])
        except ValueError as exc:
            raise LoginRefused(
                "bad_subject",
                f"{self.provider.label} named a subject this portal cannot store. {AGAIN}",
                detail=str(exc),
            ) from exc

    def filter_users_by_claims(self, claims):
        """By the (issuer, sub) identity only; never by email (the parent's way)."""
        return Account.objects.filter(
            identities__type=Identity.Type.OIDC,
            identities__identity=self._identity_string(claims),
        )

    def verify_claims(self, claims):
        return bool(claims.get("sub")) and claims.get("iss") == self.provider.issuer

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        # The ID token's iss/sub/aud win over anything the userinfo endpoint says.
        claims = {**userinfo, **payload}
        if not self.verify_claims(claims):
            raise LoginRefused("missing_claim", f"{self.provider.label} named no subject. {AGAIN}")
        identity = self._identity_string(claims)
        found = identity_find(type=Identity.Type.OIDC, identity=identity)
        if found:
            self.identity = found
            return self.update_user(found.account, claims)
        policy = self.provider.unknown_users
        if policy == "auto":
            return self.create_user(claims)
        if policy == "deny":
            raise LoginRefused(
                "unknown_identity_denied",
                f"Your {self.provider.label} identity has no account here, and accounts for "
                f"{self.provider.label} are not made on login. Ask the data centre to create one "
                "for you, or log in with another provider.",
            )
        raise RegistrationRequired(
            VerifiedLogin(self.provider, claims["iss"], claims["sub"], claims)
        )

    def create_user(self, claims):
        account, self.identity = services.account_create_from_login(
            idp=self.provider.nickname,
            identity=self._identity_string(claims),
            claims=claims,
            ip=client_ip(self.request),
        )
        return account

    def get_user(self, user_id):
        """The session's account while it is active; a suspension ends its sessions too. The
        account read with this request's session when it is that one (accounts/sessions.py)."""
        try:
            pk = int(user_id)
            read, user = account_read_with_session(pk)
            if not read:
                user = account_by_id(pk)
        except (TypeError, ValueError, OverflowError):  # not an id this database can hold
            return None
        return user if user is not None and user.is_active else None
