"""The permission plan as a file the storage nodes apply (scripts/gatehouse-permissions.py).

Version 1 of the format, line-oriented so that a shell `while read -r ...` can parse it:

    # gatehouse-permissions 1
    # path uid gid file_mode dir_mode campaign embargo_until state writers
    /data/nightsky-2025 20000 30000000 0640 2750 nightsky-2025 2027-06-30 embargo -

The first line is the version header, exactly as above; other lines starting with `#` are
comments. Every other line has nine fields separated by one space: the path (clean, absolute,
no whitespace), the owner's uid, the group's gid, the file and directory modes in four octal
digits, the campaign's slug, the embargo date (YYYY-MM-DD, `-` for none), the state (embargo,
public, archived) and the uids that may upload, comma-separated (`-` when uploads are off).
Lines come by path. A later version changes the header; readers must refuse one they do not know.
"""

from collections.abc import Iterator

from campaigns.exports.base import ExportError, ExportReport
from campaigns.permissions import PathPlan, PlanReport, PlanSettingsError, permission_plan

FORMAT_VERSION = "1"
HEADER = f"# gatehouse-permissions {FORMAT_VERSION}\n"
COLUMNS = "# path uid gid file_mode dir_mode campaign embargo_until state writers\n"


def plan_line(plan: PathPlan) -> str:
    """One line of the file for one path."""
    embargo = plan.embargo_until.isoformat() if plan.embargo_until else "-"
    writers = ",".join(str(uid) for uid in plan.writers) or "-"
    return (
        f"{plan.path} {plan.uid} {plan.gid} {plan.file_mode_octal} {plan.dir_mode_octal} "
        f"{plan.campaign} {embargo} {plan.state} {writers}\n"
    )


def permissions(report: ExportReport, *, campaign: str | None = None) -> Iterator[str]:
    """The whole plan, or one campaign's paths (`campaign` = slug) for the ingest pipeline."""
    skipped = PlanReport(skipped=[])
    try:
        plans = permission_plan(campaign=campaign, report=skipped)
    except PlanSettingsError as exc:
        raise ExportError(str(exc)) from exc
    return _lines(plans, skipped, report)


def _lines(plans: Iterator[PathPlan], skipped: PlanReport, report: ExportReport) -> Iterator[str]:
    yield HEADER
    yield COLUMNS
    for plan in plans:
        yield plan_line(plan)
    for _, reason in skipped.skipped:
        report.skip(f"path left out of the permission plan: {reason}")
