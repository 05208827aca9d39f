"""dCache gPlazma multimap files: stage 1 maps an identity to an account, stage 2 adds its gids.

dCache reads each line with its `Args` scanner: words are split on whitespace; `"` and `'` open
quoted strings; a backslash before `'`, `"`, space, `-` or another backslash stands for that
character and before anything else is kept as it is. A word whose text holds whitespace, a quote
or a backslash is therefore written double-quoted, with `"` escaped and a backslash doubled only
where dCache would otherwise read it as an escape, so a line shows the DN exactly as dCache reads
it. A line break cannot be written at all, so such a value is left out.

`dn:` values are the DN exactly as a dCache login carries it (accounts.dn.dn_for_storage).
`oidc:` values are `<sub>@<op alias>`: dCache splits them at the last `@`, and also matches a
login whose subject alone equals the whole value (its legacy rule for lines without an alias).
So the line for subject `pat` at alias `iam` also matches whoever logs in with subject `pat@iam`
at any provider: when that subject belongs to another account, the export is refused.
"""

import hashlib
import re
from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter

from django.conf import settings

from accounts.dn import DNError, dn_for_storage
from accounts.identities import parse_oidc_identity
from accounts.idps import get_providers, provider_for_issuer
from accounts.models import Identity
from campaigns.exports.base import ExportError, ExportReport
from campaigns.exports.selection import (
    gid_rows_by_account,
    identity_rows,
    oidc_identity_rows_named,
    oidc_identity_rows_with_at,
    token_subject_rows,
)

# Java's Character.isWhitespace (what Args splits words on), quotes and the backslash.
JAVA_WHITESPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\u1680\u2028\u2029\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B) if c != 0x2007
)
_NEEDS_QUOTES = re.compile(f"[{re.escape(JAVA_WHITESPACE)}\"'\\\\]")
# Inside double quotes a backslash is an escape only before these (or at the closing quote).
_BACKSLASH_READ_AS_ESCAPE = re.compile(r"\\(?=[\"' \-\\]|\Z)")
_UNWRITABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
# A stored DN that canl writes byte for byte as stored: printable ASCII without '+' or '\',
# and only attribute names that canl spells as we do.
_STORED_DN_IS_CANL = re.compile(r"(?:/(?:C|O|OU|CN|DC|L|ST|UID)=[\x20-\x2a\x2c-\x5b\x5d-\x7e]*)+\Z")
OIDC_SUB_MAX = 255  # dCache refuses longer subjects (OidcSubjectPrincipal)
_OP_ALIAS_RE = re.compile(r"[A-Za-z0-9._~-]+")


def multimap_word(kind: str, value: str) -> str:
    """`kind:value` as one multimap word that dCache reads back as exactly that text."""
    word = f"{kind}:{value}"
    if not _NEEDS_QUOTES.search(word):
        return word
    return '"' + _BACKSLASH_READ_AS_ESCAPE.sub(r"\\\\", word).replace('"', '\\"') + '"'


def storage_dn(stored: str) -> str:
    """The `dn:` value for a stored DN (DNError if it cannot be read)."""
    if _STORED_DN_IS_CANL.match(stored):
        return stored
    return dn_for_storage(stored)


def oidc_parts(identity: str) -> tuple[str, str] | None:
    """(sub, issuer), or None for a stored string the identity rule would refuse today."""
    try:
        return parse_oidc_identity(identity)
    except ValueError:
        return None


def _check_op_aliases() -> None:
    seen: dict[str, str] = {}
    for provider in get_providers().values():
        if not _OP_ALIAS_RE.fullmatch(provider.op_alias):
            raise ExportError(
                f"Provider {provider.nickname!r} has the op_alias {provider.op_alias!r}, which "
                "dCache cannot read back from a multimap line (it splits at the last '@'): use "
                "only letters, digits, '.', '_', '~' and '-' in idpsecrets.json."
            )
        if provider.op_alias in seen:
            raise ExportError(
                f"Providers {seen[provider.op_alias]!r} and {provider.nickname!r} share the "
                f"op_alias {provider.op_alias!r}, so one OIDC subject could map to two accounts: "
                "give each provider its own op_alias in idpsecrets.json."
            )
        seen[provider.op_alias] = provider.nickname
    own = settings.GATEHOUSE_ISSUER_OP_ALIAS
    if own and not _OP_ALIAS_RE.fullmatch(own):
        raise ExportError(
            f"GATEHOUSE_ISSUER_OP_ALIAS {own!r} is not a dCache provider name: use letters, "
            "digits, '.', '_', '~' and '-' only."
        )
    if own and own in seen:
        raise ExportError(
            f"Provider {seen[own]!r} uses op_alias {own!r}, which GATEHOUSE_ISSUER_OP_ALIAS "
            "gives Gatehouse's own storage tokens: choose another alias for one of them."
        )


def _check_legacy_matches() -> None:
    """Refuse when a line `<sub>@<alias>` would also match another account's login.

    dCache matches a login whose subject equals a line's whole value at any provider, so the
    line for (S, alias A) also matches the subject `S@A`. Only subjects holding an `@` can be
    hit that way; they are few, and two queries find every such pair before the first line.
    """
    providers = {provider.op_alias: provider for provider in get_providers().values()}
    # Rucio identity of the line's owner -> (account, subject, issuer) of the login it also hits
    hits: dict[str, tuple[str, str, str]] = {}
    for identity, name in oidc_identity_rows_with_at():
        parsed = oidc_parts(identity)
        if parsed is None or "@" not in parsed[0]:
            continue
        prefix, _, alias = parsed[0].rpartition("@")
        if prefix and alias in providers:
            hits[f"SUB={prefix}, ISS={providers[alias].issuer}"] = (name, *parsed)
    for identity, owner in oidc_identity_rows_named(list(hits)):
        name, subject, issuer = hits[identity]
        if owner == name:
            continue  # both lines map the same account: one uid, nothing to refuse
        prefix, _, alias = subject.rpartition("@")
        raise ExportError(
            f"The multimap line oidc:{subject} for account {owner!r} (subject {prefix!r} at "
            f"{providers[alias].issuer}) would also match the login of account {name!r}, whose "
            f"subject at {issuer} is {subject!r}: dCache matches a line's whole value as a "
            "subject at any provider. The export stops so that no one logs in as someone else: "
            f"give provider {providers[alias].nickname!r} another op_alias (in idpsecrets.json "
            "and dCache alike) or remove one of the two identities."
        )


def multimap_ids(report: ExportReport) -> Iterator[str]:
    """Stage 1: `"dn:<DN>" username:<a> uid:<uid> gid:<uid>,true` and the `oidc:` equivalent."""
    _check_op_aliases()
    _check_legacy_matches()
    return _multimap_id_lines(report)


def _oidc_value(identity: str, aliases: dict, report: ExportReport) -> str | None:
    parsed = oidc_parts(identity)
    if parsed is None:
        report.skip("OIDC identity not in the form 'SUB=<sub>, ISS=<issuer>'")
        return None
    sub, issuer = parsed
    if issuer not in aliases:
        provider = provider_for_issuer(issuer)
        aliases[issuer] = provider.op_alias if provider else None
    if aliases[issuer] is None:
        report.skip(f"OIDC identity of issuer {issuer} (no provider configured)")
        return None
    if not sub.isascii() or len(sub) > OIDC_SUB_MAX:
        report.skip("OIDC subject that dCache refuses (not ASCII, or over 255 characters)")
        return None
    return f"{sub}@{aliases[issuer]}"


def _multimap_id_lines(report: ExportReport) -> Iterator[str]:
    aliases: dict[str, str | None] = {}
    seen: set[bytes] = set()
    for kind, identity, name, uid in identity_rows(report):
        if kind == Identity.Type.X509:
            principal = "dn"
            try:
                value = storage_dn(identity)
            except DNError:
                report.skip("X.509 identity that is not a readable DN")
                continue
        else:
            principal = "oidc"
            value = _oidc_value(identity, aliases, report)
            if value is None:
                continue
        if _UNWRITABLE.search(value):
            report.skip(f"{principal} value with a line break or control character")
            continue
        # One principal, one account, one uid: a second mapping would make dCache refuse it.
        key = hashlib.blake2b(f"{principal}:{value}".encode(), digest_size=16).digest()
        if key in seen:
            raise ExportError(
                f"Two accounts map the same {principal} principal (the second is {name!r}); "
                "the export stops so that no login maps to two uids. Fix the identities first."
            )
        seen.add(key)
        yield f"{multimap_word(principal, value)} username:{name} uid:{uid} gid:{uid},true\n"
    # Storage tokens Gatehouse issues carry the account's opaque token subject as `sub`.
    alias = settings.GATEHOUSE_ISSUER_OP_ALIAS
    if alias:
        for name, subject, uid in token_subject_rows(report):
            yield f"oidc:{subject}@{alias} username:{name} uid:{uid} gid:{uid},true\n"


def multimap_campaigns(report: ExportReport) -> Iterator[str]:
    """Stage 2: `username:<a> gid:<g1> gid:<g2> ...`, one line per account with a campaign."""
    for name, rows in groupby(gid_rows_by_account(report), key=itemgetter(0)):
        yield f"username:{name} " + " ".join(f"gid:{gid}" for _, gid in rows) + "\n"
