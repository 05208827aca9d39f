"""OpenID Connect login through several identity providers (mozilla-django-oidc, subclassed).

- `flow`: state, nonce, PKCE and `next` for one login, kept in the session keyed by state.
- `verify`: strict ID token checks (asymmetric algorithms, keys from the provider's jwks_uri).
- `backend`: the authentication backend: code -> tokens -> claims -> account.
- `views`: /login/<idp>/, the one callback for all providers, logout.
- `middleware`: session refresh that answers htmx requests with HX-Redirect.
"""

from dataclasses import dataclass, field

from accounts.identities import oidc_identity
from accounts.idps import IdentityProvider

AGAIN = "Start the login again; if this keeps happening, tell the portal's operators."


class LoginRefused(Exception):
    """A login that must not go on; `message` is the sentence the person reads."""

    def __init__(self, reason: str, message: str, *, status: int = 403, detail: str = ""):
        super().__init__(f"{reason}: {detail or message}")
        self.reason = reason  # short code for the audit log and the server log
        self.message = message
        self.status = status
        self.detail = detail  # for the server log only; never a token
        self.account = None


@dataclass
class VerifiedLogin:
    """A provider has vouched for (issuer, sub): the ID token and userinfo checked out."""

    provider: IdentityProvider
    issuer: str
    sub: str
    claims: dict = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return oidc_identity(issuer=self.issuer, sub=self.sub)


class RegistrationRequired(Exception):
    """The identity is not linked to an account and its provider asks new people to register."""

    def __init__(self, login: VerifiedLogin):
        super().__init__(f"unknown identity at {login.provider.nickname}")
        self.login = login
