"""`/exports/<format>` for the storage nodes: node-token auth, ETag/304, streamed body."""

import logging
import re
from collections.abc import Iterator
from functools import wraps

from django.http import Http404, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.utils.http import parse_etags
from django.views.decorators.http import require_safe

from accounts.crypto import token_hash
from accounts.http import client_ip
from campaigns.exports import BY_CAMPAIGN, FORMATS, ExportError, ExportReport, chunked, render
from campaigns.exports.fingerprint import export_etag
from campaigns.exports.selection import node_token_for_secret
from campaigns.services import node_token_record_use

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_TOKEN_LENGTH = 256
CAMPAIGN_PARAM_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def _unauthorized(message: str, *, error: str = "") -> HttpResponse:
    response = HttpResponse(message + "\n", status=401, content_type=CONTENT_TYPE)
    challenge = 'Bearer realm="gatehouse-exports"'
    response["WWW-Authenticate"] = challenge + (f', error="{error}"' if error else "")
    return response


def node_token_required(view):
    """Let the request through only with `Authorization: Bearer <unrevoked node token>`."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return _unauthorized(
                "This export needs a node token: send it as 'Authorization: Bearer <token>'."
            )
        node_token = None
        if len(secret) <= MAX_TOKEN_LENGTH:
            node_token = node_token_for_secret(token_hash(secret))
        if node_token is None:
            return _unauthorized(
                "This node token is not valid or has been revoked: ask an admin for a new one.",
                error="invalid_token",
            )
        node_token_record_use(node_token=node_token, ip=client_ip(request))
        request.node_token = node_token
        return view(request, *args, **kwargs)

    return wrapper


def _etag_matches(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _logged(blocks: Iterator[bytes], report: ExportReport, label: str) -> Iterator[bytes]:
    try:
        yield from blocks
    except ExportError:
        # The status line is sent already: the node sees a truncated transfer and keeps its file.
        log.exception("export %s stopped part way", label)
        raise
    if report.skipped:
        log.warning("export %s: %s", label, "; ".join(report.warnings()))


@require_safe
@node_token_required
def export_file(request, format_name: str):
    if format_name not in FORMATS:
        raise Http404(f"There is no export format {format_name!r}.")
    campaign = request.GET.get("campaign")
    if campaign is not None and (
        format_name not in BY_CAMPAIGN or not CAMPAIGN_PARAM_RE.fullmatch(campaign)
    ):
        return HttpResponse(
            "Only the permissions export takes ?campaign=, and it must be a campaign's name.\n",
            status=400,
            content_type=CONTENT_TYPE,
        )
    etag = export_etag(format_name, campaign=campaign)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request, etag):
        return HttpResponseNotModified(headers=headers)
    if request.method == "HEAD":
        return HttpResponse(content_type=CONTENT_TYPE, headers=headers)
    report = ExportReport()
    try:
        lines = render(format_name, report, campaign=campaign)
    except ExportError as exc:
        log.error("export %s refused: %s", format_name, exc)
        return HttpResponse(
            f"{exc}\n", status=503, content_type=CONTENT_TYPE, headers={"Retry-After": "300"}
        )
    label = f"{format_name} for node {request.node_token.name}"
    return StreamingHttpResponse(
        _logged(chunked(lines), report, label), content_type=CONTENT_TYPE, headers=headers
    )
