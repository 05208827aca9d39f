"""The permission plan: which owner, group and modes each campaign data path must have on disk.

The one source for every consumer: the `permissions` export the storage nodes apply, the
ingest pipeline's question "which owner and group for a new file here", and the campaign page.

The rule, in POSIX terms of the access rule in campaigns.selectors: a path is owned by the
campaign's PI (uid) and belongs to the campaign's group (gid). Under embargo the group reads and
others do not (default 0640 files, 2750 setgid directories, so new files inherit the group);
after the embargo everybody reads (0644/2755). An archived campaign keeps its last owner and
group and loses group write. The modes are settings (GATEHOUSE_PERMISSIONS_*).
"""

import datetime
import enum
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.storage_paths import PathRejected, path_normalise
from campaigns.models import Campaign, Membership
from campaigns.selectors import current_memberships

GROUP_WRITE = 0o020
SETUID = 0o4000
# A plan path must survive a shell `read`: no whitespace, no quotes, no backslashes.
PLAN_PATH_RE = re.compile(r"/[A-Za-z0-9._+@%=,:~/-]*")
GROUP_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")  # the model's rule again, as a fullmatch


class PlanState(enum.StrEnum):
    EMBARGO = "embargo"
    PUBLIC = "public"
    ARCHIVED = "archived"


class PlanSettingsError(ValueError):
    """A GATEHOUSE_PERMISSIONS_* setting is out of range; the message says which and why."""


@dataclass(frozen=True)
class PlanModes:
    embargo_file: int
    embargo_dir: int
    public_file: int
    public_dir: int
    upload_write: bool


def plan_modes() -> PlanModes:
    """The mode settings, checked: files without setuid/setgid/sticky, directories without
    setuid, nothing beyond 07777."""
    modes = PlanModes(
        embargo_file=settings.GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE,
        embargo_dir=settings.GATEHOUSE_PERMISSIONS_EMBARGO_DIR_MODE,
        public_file=settings.GATEHOUSE_PERMISSIONS_PUBLIC_FILE_MODE,
        public_dir=settings.GATEHOUSE_PERMISSIONS_PUBLIC_DIR_MODE,
        upload_write=settings.GATEHOUSE_PERMISSIONS_UPLOAD_WRITE,
    )
    for name, value, allowed in (
        ("EMBARGO_FILE_MODE", modes.embargo_file, 0o777),
        ("PUBLIC_FILE_MODE", modes.public_file, 0o777),
        ("EMBARGO_DIR_MODE", modes.embargo_dir, 0o3777),
        ("PUBLIC_DIR_MODE", modes.public_dir, 0o3777),
    ):
        if not isinstance(value, int) or value < 0 or value & ~allowed:
            raise PlanSettingsError(
                f"GATEHOUSE_PERMISSIONS_{name} is {value!r}: give an octal mode no larger than "
                f"{allowed:04o} (no setuid; on files no setgid or sticky bit either)."
            )
    if modes.embargo_file & 0o007 or modes.embargo_dir & 0o007:
        raise PlanSettingsError(
            "The GATEHOUSE_PERMISSIONS_EMBARGO_* modes give others access to embargoed data: "
            "clear the last digit (for example 0640 and 2750)."
        )
    return modes


@dataclass(frozen=True)
class PathPlan:
    """One data path of one campaign, and what it must look like on disk."""

    path: str
    campaign: str
    group: str
    gid: int
    owner: str
    uid: int
    file_mode: int
    dir_mode: int
    state: PlanState
    embargo_until: datetime.date | None
    writers: tuple[int, ...] = ()  # uids that may upload (PI, managers), if enabled

    @property
    def file_mode_octal(self) -> str:
        return f"{self.file_mode:04o}"

    @property
    def dir_mode_octal(self) -> str:
        return f"{self.dir_mode:04o}"


@dataclass
class PlanReport:
    """Paths the plan leaves out, with the reason (the export passes them to its report)."""

    skipped: list[tuple[str, str]]

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append((what, reason))


def plan_path_clean(path: str) -> str:
    """The path as the plan writes it, or PathRejected: a clean absolute path (the access rule's
    path_normalise) that a shell script can split on whitespace."""
    normal = path_normalise(path)
    if normal == "/" or not PLAN_PATH_RE.fullmatch(normal):
        raise PathRejected(
            f"{path!r} cannot go into the permission plan: use letters, digits and . _ + @ % = , "
            ": ~ - only, and never the root directory itself."
        )
    return normal


def _state(status: str, embargo_until: datetime.date | None, today: datetime.date) -> PlanState:
    if status == Campaign.Status.ARCHIVED:
        return PlanState.ARCHIVED
    if embargo_until is not None and today < embargo_until:
        return PlanState.EMBARGO
    return PlanState.PUBLIC


def _writers(campaign_ids: list[int] | None) -> dict[int, set[int]]:
    """Current managers' uids per campaign id (the PI is added by the caller)."""
    managers = current_memberships().filter(
        role=Membership.Role.MANAGER, account__uid__isnull=False
    )
    if campaign_ids is not None:
        managers = managers.filter(campaign_id__in=campaign_ids)
    found: dict[int, set[int]] = defaultdict(set)
    for campaign_id, uid in managers.values_list("campaign_id", "account__uid"):
        found[campaign_id].add(uid)
    return found


def permission_plan(
    *,
    campaign: str | None = None,
    today: datetime.date | None = None,
    report: PlanReport | None = None,
) -> Iterator[PathPlan]:
    """The plan for every data path of every campaign (or of the campaign with slug
    `campaign`), by path. Raises PlanSettingsError for bad mode settings before the first row.

    Paths the plan cannot carry (a PI without uid, a path a shell would split) are left out and
    named in `report`. One query for the campaigns, one more for managers if uploads are on.
    """
    modes = plan_modes()
    return _plan_rows(modes, campaign, timezone.localdate() if today is None else today, report)


def campaign_permission_plan(
    campaign: Campaign, *, today: datetime.date | None = None
) -> list[PathPlan]:
    """permission_plan() for one campaign already loaded with its PI (the campaign page): the
    same rule, without reading the campaign again."""
    modes = plan_modes()
    pi = campaign.pi
    row = (
        campaign.pk,
        campaign.slug,
        campaign.gid,
        campaign.status,
        campaign.embargo_until,
        campaign.data_paths,
        pi.name,
        pi.uid,
    )
    today = timezone.localdate() if today is None else today
    return _plans([row], modes, today, None, only=[campaign.pk])


def _plan_rows(
    modes: PlanModes, slug: str | None, today: datetime.date, report: PlanReport | None
) -> Iterator[PathPlan]:
    campaigns = Campaign.objects.exclude(data_paths=[])
    if slug is not None:
        campaigns = campaigns.filter(Q(slug=slug))
    rows = list(
        campaigns.values_list(
            "pk", "slug", "gid", "status", "embargo_until", "data_paths", "pi__name", "pi__uid"
        )
    )
    yield from _plans(rows, modes, today, report, only=[r[0] for r in rows] if slug else None)


def _plans(
    rows: list[tuple],
    modes: PlanModes,
    today: datetime.date,
    report: PlanReport | None,
    *,
    only: list[int] | None,
) -> list[PathPlan]:
    """The rule itself, on (pk, slug, gid, status, embargo_until, data_paths, PI name, PI uid)
    rows; sorted by path."""
    writers = _writers(only) if modes.upload_write else {}
    plans = []
    for pk, slug_, gid, status, embargo_until, data_paths, pi_name, pi_uid in rows:
        if not GROUP_NAME_RE.fullmatch(slug_):
            if report is not None:
                report.skip(repr(slug_), "the campaign's name is not a POSIX group name")
            continue
        if pi_uid is None:
            if report is not None:
                report.skip(slug_, f"the PI {pi_name} has no uid")
            continue
        state = _state(status, embargo_until, today)
        if state == PlanState.EMBARGO or (
            state == PlanState.ARCHIVED and embargo_until and today < embargo_until
        ):
            file_mode, dir_mode = modes.embargo_file, modes.embargo_dir
        else:
            file_mode, dir_mode = modes.public_file, modes.public_dir
        if state == PlanState.ARCHIVED:
            file_mode, dir_mode = file_mode & ~GROUP_WRITE, dir_mode & ~GROUP_WRITE
        uploaders = tuple(sorted({pi_uid} | writers.get(pk, set()))) if modes.upload_write else ()
        for raw in data_paths:
            try:
                path = plan_path_clean(raw)
            except PathRejected as exc:
                if report is not None:
                    report.skip(slug_, str(exc))
                continue
            plans.append(
                PathPlan(
                    path=path,
                    campaign=slug_,
                    group=slug_,
                    gid=gid,
                    owner=pi_name,
                    uid=pi_uid,
                    file_mode=file_mode,
                    dir_mode=dir_mode,
                    state=state,
                    embargo_until=embargo_until,
                    writers=uploaders,
                )
            )
    plans.sort(key=lambda p: (p.path, p.campaign))
    return plans
