"""One-line explanations of the claims and header parameters people meet in tokens here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    name: str
    source: str
    explanation: str


def _table(*rows: tuple[str, str, str]) -> dict[str, ClaimInfo]:
    return {name: ClaimInfo(name, source, text) for name, source, text in rows}


KNOWN_CLAIMS = _table(
    (
        "iss",
        "RFC 7519",
        "Issuer: who made and signed the token; must match a trusted issuer exactly.",
    ),
    (
        "sub",
        "RFC 7519",
        "Subject: the issuer's stable id for the person or service the token is for.",
    ),
    (
        "aud",
        "RFC 7519",
        "Audience: the services meant to accept the token (a URL, `rucio`, or the WLCG wildcard).",
    ),
    ("exp", "RFC 7519", "Expiry time (seconds since 1970 UTC); the token is refused from then on."),
    ("nbf", "RFC 7519", "Not before: the token is refused before this time."),
    ("iat", "RFC 7519", "Issued at: when the issuer made the token."),
    (
        "jti",
        "RFC 7519",
        "Token id: unique per issuer; use it to trace the token in the issuer's logs.",
    ),
    (
        "scope",
        "RFC 8693 / WLCG",
        "Space-separated permissions, e.g. storage.read:/data or compute.create.",
    ),
    (
        "wlcg.ver",
        "WLCG profile",
        "Version of the WLCG token profile the token follows; only 1.x is understood.",
    ),
    (
        "wlcg.groups",
        "WLCG profile",
        "Groups asserted for the subject; ignored by storage when capability scopes are present.",
    ),
    ("client_id", "RFC 9068 / RFC 8693", "The OAuth client that requested the token."),
    ("azp", "OpenID Connect", "Authorised party: the client the token was issued to."),
    (
        "act",
        "RFC 8693",
        "Actor: who is using the token on the subject's behalf; nested `act` shows earlier actors.",
    ),
    (
        "may_act",
        "RFC 8693",
        "Who is allowed to exchange this token and act on the subject's behalf.",
    ),
    ("auth_time", "OpenID Connect", "When the person last authenticated at the identity provider."),
    (
        "acr",
        "OpenID Connect",
        "Authentication context class: how strongly the person authenticated.",
    ),
    ("amr", "RFC 8176", "Authentication methods used (password, otp, mfa, ...)."),
    (
        "nonce",
        "OpenID Connect",
        "Replay protection for ID tokens; its presence suggests this is an ID token.",
    ),
    ("at_hash", "OpenID Connect", "Hash of an access token, found in ID tokens."),
    ("sid", "OpenID Connect", "Session id at the identity provider."),
    ("eduperson_assurance", "REFEDS RAF", "Identity assurance values (e.g. Cappuccino, Espresso)."),
    (
        "eduperson_entitlement",
        "eduPerson / AARC",
        "Entitlements, often group memberships in URN form.",
    ),
    ("email", "OpenID Connect", "E-mail address of the subject."),
    (
        "email_verified",
        "OpenID Connect",
        "Whether the identity provider verified the e-mail address.",
    ),
    (
        "preferred_username",
        "OpenID Connect",
        "The user name the person prefers; not unique, never use it for access.",
    ),
    ("name", "OpenID Connect", "Full name of the subject."),
    ("given_name", "OpenID Connect", "Given name of the subject."),
    ("family_name", "OpenID Connect", "Family name of the subject."),
    ("groups", "INDIGO IAM", "Group names the subject belongs to, as IAM reports them."),
    ("organisation_name", "INDIGO IAM", "Name of the IAM organisation (VO) that issued the token."),
    ("cern_person_id", "CERN SSO", "CERN person id of the subject."),
    ("cern_upn", "CERN SSO", "CERN account name of the subject."),
    ("typ", "Keycloak", "Keycloak token type: Bearer, ID, Refresh or Offline."),
    ("session_state", "Keycloak", "Keycloak session id."),
    ("cnf", "RFC 7800", "Proof-of-possession key the bearer must also show."),
)

HEADER_PARAMETERS = _table(
    ("alg", "RFC 7515", "Signature algorithm; only RS*, PS* and ES* are accepted here."),
    ("kid", "RFC 7515", "Key id: which key of the issuer's JWKS signed the token."),
    ("typ", "RFC 7515 / RFC 9068", "Token type; `at+jwt` marks an RFC 9068 access token."),
    ("cty", "RFC 7515", "Content type; set only for nested tokens, which are not accepted."),
    (
        "jku",
        "RFC 7515",
        "A URL of keys chosen by the token; ignored: keys come only from the issuer's jwks_uri.",
    ),
    ("x5u", "RFC 7515", "A certificate URL chosen by the token; ignored for the same reason."),
    ("jwk", "RFC 7515", "A key embedded in the token; ignored: a token cannot vouch for itself."),
    ("x5c", "RFC 7515", "A certificate chain embedded in the token; ignored."),
    ("x5t", "RFC 7515", "Certificate thumbprint; informational."),
    ("x5t#S256", "RFC 7515", "Certificate SHA-256 thumbprint; informational."),
    (
        "crit",
        "RFC 7515",
        "Extensions the verifier must understand; tokens with `crit` are refused.",
    ),
)


def explain_claim(name: str) -> str | None:
    info = KNOWN_CLAIMS.get(name)
    return info.explanation if info else None


def explain_header(name: str) -> str | None:
    info = HEADER_PARAMETERS.get(name)
    return info.explanation if info else None
