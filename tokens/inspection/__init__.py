"""Token inspection: is this JWT valid, who issued it for whom, and what it allows where.

Pure Python (no Django imports) so pages, commands and benchmarks share one core.
"""

from .audience import RUCIO_AUDIENCE, WLCG_ANY_AUDIENCE, normalise_audience
from .capabilities import (
    STORAGE_OPERATIONS,
    Capabilities,
    Decision,
    PathRejected,
    StorageGrant,
    TableRow,
    parse_capabilities,
    path_normalise,
    scopes_needed,
)
from .checks import Check, Status
from .claims import HEADER_PARAMETERS, KNOWN_CLAIMS, explain_claim, explain_header
from .delegation import Actor, Delegation
from .issuers import (
    ALLOWED_ALGORITHMS,
    IssuerUnavailable,
    JwksCache,
    KeyLookup,
    TrustedIssuer,
)
from .redaction import fingerprint
from .structure import MAX_TOKEN_CHARS
from .validate import Inspection, inspect_token

__all__ = [
    "ALLOWED_ALGORITHMS",
    "HEADER_PARAMETERS",
    "KNOWN_CLAIMS",
    "MAX_TOKEN_CHARS",
    "RUCIO_AUDIENCE",
    "STORAGE_OPERATIONS",
    "WLCG_ANY_AUDIENCE",
    "Actor",
    "Capabilities",
    "Check",
    "Decision",
    "Delegation",
    "Inspection",
    "IssuerUnavailable",
    "JwksCache",
    "KeyLookup",
    "PathRejected",
    "Status",
    "StorageGrant",
    "TableRow",
    "TrustedIssuer",
    "explain_claim",
    "explain_header",
    "fingerprint",
    "inspect_token",
    "normalise_audience",
    "parse_capabilities",
    "path_normalise",
    "scopes_needed",
]
