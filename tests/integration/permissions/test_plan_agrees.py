"""On every path of the demo data, for every demo person and for nobody: the answers Gatehouse
gives to "may this account read this path" agree.

Each answer is a function (path, account or None) -> bool in ANSWERS:
- "who can read this path": campaigns.selectors.path_access, the rule the portal shows;
- "permission plan on disk": POSIX read permission from the plan's owner, group and modes, with
  group membership as the exports put it on the nodes (campaigns.exports.selection).
- "storage-token policy": whether Gatehouse's issuer grants `storage.read:<path>` to the account
  (tokens.policy.decide, at a storage element whose base path is "/"). A token needs an account,
  so for nobody this answer abstains.
"""

import io
from collections.abc import Callable

import pytest
from django.core.management import call_command

from accounts.models import Account
from campaigns.exports.selection import exported_accounts, gid_rows_by_account
from campaigns.permissions import PathPlan, permission_plan
from campaigns.selectors import path_access, path_covers
from tokens.models import StorageElement
from tokens.policy import Refused, ScopeRequest, decide

pytestmark = pytest.mark.django_db


def _may_read(mode: int, who: str) -> tuple[bool, bool]:
    """(read, search) bits of `mode` for the class "owner", "group" or "other"."""
    shift = {"owner": 6, "group": 3, "other": 0}[who]
    bits = (mode >> shift) & 0o7
    return bool(bits & 0o4), bool(bits & 0o1)


def plan_answer(plans: list[PathPlan]) -> Callable[[str, Account | None], bool]:
    exported = {a.pk: a.uid for a in exported_accounts()}
    groups: dict[str, set[int]] = {}
    for name, gid in gid_rows_by_account():
        groups.setdefault(name, set()).add(gid)

    def answer(path: str, account: Account | None) -> bool:
        covering = [p for p in plans if path_covers(p.path, path)]
        if not covering:
            return False
        plan = max(covering, key=lambda p: len(p.path))
        if account is not None and account.pk not in exported:
            return False  # not on the nodes: maps to nobody
        if account is not None and account.uid == plan.uid:
            who = "owner"  # POSIX: the first matching class decides
        elif account is not None and plan.gid in groups.get(account.name, set()):
            who = "group"
        else:
            who = "other"
        dir_read, dir_search = _may_read(plan.dir_mode, who)
        file_read, _ = _may_read(plan.file_mode, who)
        return dir_read and dir_search and file_read

    return answer


def path_access_answer(path: str, account: Account | None) -> bool:
    return path_access(path=path, account=account).allowed


def token_policy_answer() -> Callable[[str, Account | None], bool | None]:
    element = StorageElement.objects.create(
        name="agreement-se", audiences=["https://se.example.org"], base_path="/"
    )

    def answer(path: str, account: Account | None) -> bool | None:
        if account is None:
            return None  # no account, no token: nothing to compare
        try:
            decide(account=account, storage_element=element, scopes=[ScopeRequest("read", path)])
        except Refused:
            return False
        return True

    return answer


def test_plan_who_can_read_and_token_policy_agree_on_every_demo_path():
    call_command("seed_demo", stdout=io.StringIO())
    plans = list(permission_plan())
    assert len(plans) >= 5
    answers = {
        "who can read this path (path_access)": path_access_answer,
        "permission plan on disk": plan_answer(plans),
        "storage-token policy": token_policy_answer(),
    }
    people: list[Account | None] = [None, *Account.objects.order_by("name")]
    checked = 0
    disagreements = []
    for plan in plans:
        for path in (plan.path, f"{plan.path}/raw/frame-0001.fits"):
            for account in people:
                said = {name: answer(path, account) for name, answer in answers.items()}
                checked += 1
                if len({v for v in said.values() if v is not None}) != 1:
                    disagreements.append((path, account.name if account else "nobody", said))
    assert not disagreements, disagreements
    assert checked == len(plans) * 2 * len(people)
    # The demo has both kinds: somebody is refused somewhere, somebody reads embargoed data.
    nightsky = next(p for p in plans if p.campaign == "nightsky-2025")
    alice, carol = Account.objects.get(name="alice"), Account.objects.get(name="carol")
    assert answers["permission plan on disk"](nightsky.path, alice)
    assert not answers["permission plan on disk"](nightsky.path, carol)
    assert not answers["permission plan on disk"](nightsky.path, None)
    assert answers["storage-token policy"](nightsky.path, alice)
    assert not answers["storage-token policy"](nightsky.path, carol)
