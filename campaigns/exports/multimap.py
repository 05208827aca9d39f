"""dCache gPlazma multimap files: stage 1 maps an identity to an account, stage 2 adds its gids.

dCache reads each line with its `Args` scanner: words are split on whitespace; `"` and `'` open
quoted strings and a backslash escapes the next character, even outside quotes. A word whose
text holds whitespace, a quote or a backslash is therefore written double-quoted, with `\\` and
`"` escaped inside. A line break cannot be written at all, so such a value is left out.
"""

import hashlib
import re
from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter

from django.conf import settings

from accounts.idps import get_providers, provider_for_issuer
from accounts.models import Identity
from campaigns.exports.base import ExportError, ExportReport
from campaigns.exports.selection import gid_rows_by_account, identity_rows, token_subject_rows

_NEEDS_QUOTES = re.compile(r"[\s\"'\\]")
_OP_ALIAS = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UNWRITABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def multimap_word(kind: str, value: str) -> str:
    """`kind:value` as one multimap word, double-quoted when dCache would otherwise split it."""
    word = f"{kind}:{value}"
    if _NEEDS_QUOTES.search(word):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def parse_oidc_identity(identity: str) -> tuple[str, str] | None:
    """(sub, issuer) from Rucio's `SUB=<sub>, ISS=<issuer>`, or None if it is not in that form."""
    if not identity.startswith("SUB="):
        return None
    # The issuer is a URL without ", ISS=", so the last occurrence is the separator.
    sub, separator, issuer = identity[len("SUB=") :].rpartition(", ISS=")
    if not separator or not sub or not issuer:
        return None
    return sub, issuer


def _check_op_aliases() -> None:
    seen: dict[str, str] = {}
    for provider in get_providers().values():
        if provider.op_alias in seen:
            raise ExportError(
                f"Providers {seen[provider.op_alias]!r} and {provider.nickname!r} share the "
                f"op_alias {provider.op_alias!r}, so one OIDC subject could map to two accounts: "
                "give each provider its own op_alias in idpsecrets.json."
            )
        seen[provider.op_alias] = provider.nickname
    own = settings.GATEHOUSE_ISSUER_OP_ALIAS
    if own and not _OP_ALIAS.fullmatch(own):
        raise ExportError(
            f"GATEHOUSE_ISSUER_OP_ALIAS {own!r} is not a dCache provider name: use letters, "
            "digits, '.', '_' and '-' only."
        )
    if own and own in seen:
        raise ExportError(
            f"Provider {seen[own]!r} uses op_alias {own!r}, which GATEHOUSE_ISSUER_OP_ALIAS "
            "gives Gatehouse's own storage tokens: choose another alias for one of them."
        )


def multimap_ids(report: ExportReport) -> Iterator[str]:
    """Stage 1: `"dn:<DN>" username:<a> uid:<uid> gid:<uid>,true` and the `oidc:` equivalent."""
    _check_op_aliases()
    return _multimap_id_lines(report)


def _multimap_id_lines(report: ExportReport) -> Iterator[str]:
    aliases: dict[str, str | None] = {}
    seen: set[bytes] = set()
    for kind, identity, name, uid in identity_rows():
        if kind == Identity.Type.X509:
            principal, value = "dn", identity
        else:
            parsed = parse_oidc_identity(identity)
            if parsed is None:
                report.skip("OIDC identity not in the form 'SUB=<sub>, ISS=<issuer>'")
                continue
            sub, issuer = parsed
            if issuer not in aliases:
                provider = provider_for_issuer(issuer)
                aliases[issuer] = provider.op_alias if provider else None
            if aliases[issuer] is None:
                report.skip(f"OIDC identity of issuer {issuer} (no provider configured)")
                continue
            principal, value = "oidc", f"{sub}@{aliases[issuer]}"
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
        for name, subject, uid in token_subject_rows():
            yield f"oidc:{subject}@{alias} username:{name} uid:{uid} gid:{uid},true\n"


def multimap_campaigns(report: ExportReport) -> Iterator[str]:
    """Stage 2: `username:<a> gid:<g1> gid:<g2> ...`, one line per account with a campaign."""
    for name, rows in groupby(gid_rows_by_account(), key=itemgetter(0)):
        yield f"username:{name} " + " ".join(f"gid:{gid}" for _, gid in rows) + "\n"
