"""The user/group mapping exported to the storage nodes, in the formats they read.

Each format is a function taking an ExportReport and returning an iterator of lines (each ending
in a newline). It checks its settings before returning, so a misconfiguration is an ExportError
before the first line; rows come from one query per stream, in a deterministic order.
"""

from collections.abc import Callable, Iterator

from campaigns.exports.base import ExportError, ExportReport, chunked
from campaigns.exports.ldif import ldif_document
from campaigns.exports.multimap import multimap_campaigns, multimap_ids
from campaigns.exports.permissions import permissions
from campaigns.exports.posix import group, passwd

FORMATS: dict[str, Callable[[ExportReport], Iterator[str]]] = {
    "multimap-ids": multimap_ids,
    "multimap-campaigns": multimap_campaigns,
    "group": group,
    "passwd": passwd,
    "ldif": ldif_document,
    "permissions": permissions,
}
# Formats that can be narrowed to one campaign (`?campaign=<slug>`, `--campaign`).
BY_CAMPAIGN = {"permissions"}


def render(format_name: str, report: ExportReport, *, campaign: str | None = None) -> Iterator[str]:
    """The lines of one export; raises ExportError for an unknown format or bad settings."""
    exporter = FORMATS.get(format_name)
    if exporter is None:
        raise ExportError(
            f"There is no export format {format_name!r}: use one of {', '.join(FORMATS)}."
        )
    if campaign is None:
        return exporter(report)
    if format_name not in BY_CAMPAIGN:
        raise ExportError(
            f"The {format_name} export cannot be narrowed to one campaign: only "
            f"{', '.join(sorted(BY_CAMPAIGN))} can."
        )
    return exporter(report, campaign=campaign)


__all__ = ["BY_CAMPAIGN", "FORMATS", "ExportError", "ExportReport", "chunked", "render"]
