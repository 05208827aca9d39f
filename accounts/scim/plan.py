"""What a SCIM sync would change, worked out from what was read and what the database holds.

Rules:
- An account belongs to the provider through an OIDC identity `SUB=<IAM id>, ISS=<issuer>`
  (created by the sync or by a login); that identity is the link and is never removed.
- The sync owns only identities with source=scim; manual and login identities stay.
- An identity claimed by two IAM users, or held by an account the sync does not own it for,
  is reported and linked to no one.
- Gone from IAM, deactivated, or past endTime: the account is suspended (never deleted) and its
  scim identities other than the link are removed. Only accounts the sync itself suspended are
  reactivated when IAM shows them active again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from accounts.identities import oidc_identity
from accounts.idps import IdentityProvider
from accounts.models import Account, Identity, IdpGroup, IdpGroupMembership, Registration
from accounts.names import account_name_derive
from accounts.scim.staging import StagedUser

SUSPEND_REASON_PREFIX = "SCIM sync"
OIDC, X509 = Identity.Type.OIDC.value, Identity.Type.X509.value
SCIM_SOURCE = Identity.Source.SCIM.value

Key = tuple[str, str]  # (identity type, identity string)


@dataclass
class Snapshot:
    """Everything read from the provider in one complete run."""

    users: dict[str, StagedUser]
    groups: dict[str, str]  # IAM group id -> IAM full name
    members: dict[str, set[str]]  # IAM group id -> IAM user ids (followed groups only)
    followed: set[str] = field(default_factory=set)  # IAM ids of groups an app above follows
    read_stats: dict[str, int] = field(default_factory=dict)


@dataclass
class NewAccount:
    scim_id: str
    name: str
    email: str
    display_name: str
    identities: list[Key]


@dataclass
class AccountChange:
    account_id: int
    name: str
    suspend: str = ""  # reason
    reactivate: bool = False
    email: str | None = None
    display_name: str | None = None
    add: list[Key] = field(default_factory=list)
    remove: list[tuple[int, Key]] = field(default_factory=list)  # (identity pk, key)

    @property
    def empty(self) -> bool:
        return not (
            self.suspend
            or self.reactivate
            or self.email is not None
            or self.display_name is not None
            or self.add
            or self.remove
        )


@dataclass
class Plan:
    provider: IdentityProvider
    now: datetime
    synced_active: int = 0
    new_accounts: list[NewAccount] = field(default_factory=list)
    changes: list[AccountChange] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ignored: int = 0
    groups_create: dict[str, str] = field(default_factory=dict)  # IAM id -> name
    groups_rename: dict[int, str] = field(default_factory=dict)  # IdpGroup pk -> name
    groups_remove: list[int] = field(default_factory=list)  # IdpGroup pk
    groups_emptied: list[int] = field(default_factory=list)  # followed, so kept, no members
    # (IAM group id, account id or IAM user id of a new account)
    group_members_add: list[tuple[str, int | str]] = field(default_factory=list)
    group_members_remove: list[int] = field(default_factory=list)  # IdpGroupMembership pk
    users_seen: int = 0
    unreadable: int = 0

    @property
    def suspensions(self) -> int:
        return sum(1 for c in self.changes if c.suspend)

    def failsafe_tripped(self, percent: int) -> bool:
        return self.synced_active > 0 and self.suspensions * 100 > percent * self.synced_active

    def counts(self) -> dict[str, int]:
        updated = sum(
            1
            for c in self.changes
            if not c.suspend
            and not c.reactivate
            and (c.add or c.remove or c.email is not None or c.display_name is not None)
        )
        return {
            "users": self.users_seen,
            "unreadable": self.unreadable,
            "created": len(self.new_accounts),
            "updated": updated,
            "suspended": self.suspensions,
            "reactivated": sum(1 for c in self.changes if c.reactivate),
            "identities_added": sum(len(c.add) for c in self.changes)
            + sum(len(n.identities) for n in self.new_accounts),
            "identities_removed": sum(len(c.remove) for c in self.changes),
            "conflicts": len(self.conflicts),
            "registrations": len(self.registrations),
            "ignored": self.ignored,
            "groups_created": len(self.groups_create),
            "groups_updated": len(self.groups_rename),
            "groups_removed": len(self.groups_remove),
            "group_memberships_added": len(self.group_members_add),
            "group_memberships_removed": len(self.group_members_remove),
        }

    def describe(self, limit: int = 20) -> list[str]:
        """Sentences for `--dry-run` and the run report, at most `limit` per kind."""
        lines = [f"create account {n.name} (IAM {n.scim_id})" for n in self.new_accounts[:limit]]
        lines += [f"suspend {c.name}: {c.suspend}" for c in self.changes if c.suspend][:limit]
        lines += [f"reactivate {c.name}" for c in self.changes if c.reactivate][:limit]
        lines += [
            f"{c.name}: add {[k[1] for k in c.add]}, remove {[k[1] for _, k in c.remove]}"
            for c in self.changes
            if c.add or c.remove
        ][:limit]
        lines += [f"register {r.requested_name} (IAM {r.identity})" for r in self.registrations][
            :limit
        ]
        lines += [_conflict_sentence(c) for c in self.conflicts[:limit]]
        lines += self.problems[:limit]
        return lines


def _conflict_sentence(conflict: dict) -> str:
    if conflict.get("holder"):
        return (
            f"{conflict['identity']} of IAM user {conflict['users'][0]} already belongs to "
            f"account {conflict['holder']}: not linked"
        )
    return (
        f"{conflict['identity']} is claimed by IAM users {', '.join(conflict['users'])}: "
        "linked to none of them"
    )


_ACCOUNT_MASK = (1 << 31) - 1


def _pack(pk: int, account_id: int, scim_owned: bool) -> int:
    """One int per identity instead of a tuple: 300,000 of them stay small."""
    return (pk << 32) | (account_id << 1) | int(scim_owned)


def _kind(identity: str) -> str:
    """OIDC identity strings start with "SUB=", DNs in slash form with "/": no overlap."""
    return OIDC if identity.startswith("SUB=") else X509


def plan_changes(provider: IdentityProvider, snapshot: Snapshot, *, now: datetime) -> Plan:
    """Compare the snapshot with the database (call inside the applying transaction)."""
    plan = Plan(provider=provider, now=now)
    issuer = provider.issuer
    link_suffix = f", ISS={issuer}"
    users = snapshot.users
    plan.users_seen = len(users)

    # The accounts of this provider: those with a link identity `SUB=<IAM id>, ISS=<issuer>`
    # (any source).
    links: dict[str, int] = {}
    link_rows = Identity.objects.filter(type=OIDC, identity__endswith=link_suffix)
    for identity, account_id in link_rows.values_list("identity", "account_id").iterator(
        chunk_size=20000
    ):
        if identity.startswith("SUB="):
            links[identity[4 : -len(link_suffix)]] = account_id
    linked_accounts = set(links.values())
    accounts = {
        pk: (name, email, display, status, reason)
        for pk, name, email, display, status, reason in Account.objects.filter(
            pk__in=linked_accounts
        ).values_list("pk", "name", "email", "display_name", "status", "status_reason")
    }
    plan.synced_active = sum(1 for a in accounts.values() if a[3] == Account.Status.ACTIVE)

    # Who claims what: an identity claimed by two active IAM users goes to neither.
    claims: dict[str, str] = {}
    blocked: dict[str, list[str]] = {}
    for user in users.values():
        if user.active and not user.unreadable:
            for identity in (*user.oidc, *user.dns):
                first = claims.setdefault(identity, user.scim_id)
                if first != user.scim_id:
                    blocked.setdefault(identity, [first]).append(user.scim_id)
    for identity, claimers in blocked.items():
        names = sorted(users[c].user_name or c for c in dict.fromkeys(claimers))
        plan.conflicts.append({"identity": identity, "type": _kind(identity), "users": names})

    # One scan of every identity: who holds the claimed ones (one int each), and which ones the
    # sync owns that nobody claims for that account any more (inactive and gone users claim
    # nothing); never the link, never those of users that could not be read.
    untouchable = {links.get(u.scim_id) for u in users.values() if u.unreadable}
    holders: dict[str, int] = {}
    removals: dict[int, list[tuple[int, Key]]] = defaultdict(list)
    rows = Identity.objects.filter(type__in=[OIDC, X509]).values_list(
        "id", "identity", "account_id", "source"
    )
    for pk, identity, account_id, source in rows.iterator(chunk_size=20000):
        claimer = claims.get(identity)
        scim_owned = source == SCIM_SOURCE
        if claimer is not None:
            holders[identity] = _pack(pk, account_id, scim_owned)
        if not scim_owned or account_id not in linked_accounts or account_id in untouchable:
            continue
        if identity.startswith("SUB=") and identity.endswith(link_suffix):
            continue
        if claimer is not None and identity not in blocked and links.get(claimer) == account_id:
            continue
        removals[account_id].append((pk, (_kind(identity), identity)))

    def wanted(user: StagedUser, account_id: int | None) -> list[Key]:
        result = []
        for identity in dict.fromkeys((*user.oidc, *user.dns)):
            if identity in blocked:
                continue
            packed = holders.get(identity)
            holder = None if packed is None else (packed >> 1) & _ACCOUNT_MASK
            if packed is not None and holder == account_id:
                continue  # already this account's, whatever its source
            if packed is None or (packed & 1 and holder in linked_accounts):
                result.append((_kind(identity), identity))  # free, or moving between users
                continue
            plan.conflicts.append(
                {
                    "identity": identity,
                    "type": _kind(identity),
                    "users": [user.user_name or user.scim_id],
                    "holder": Account.objects.filter(pk=holder)
                    .values_list("name", flat=True)
                    .first()
                    or f"#{holder}",
                }
            )
        return result

    names: set[str] | None = None
    pending_identities = set(
        Registration.objects.filter(
            state__in=[Registration.State.PENDING, Registration.State.REJECTED]
        ).values_list("identity", flat=True)
    )
    seen_accounts: set[int] = set()
    for user in users.values():
        account_id = links.get(user.scim_id)
        if account_id is not None:
            seen_accounts.add(account_id)
        if user.unreadable:
            plan.unreadable += 1
            plan.problems.append(f"IAM user {user.scim_id} could not be read: {user.problems[0]}")
            continue
        plan.problems += [f"IAM user {user.user_name}: {p}" for p in user.problems]
        if account_id is None:
            if user.active:
                if names is None:  # only when someone new turns up
                    names = set(Account.objects.values_list("name", flat=True))
                    names |= set(
                        Registration.objects.filter(state=Registration.State.PENDING).values_list(
                            "requested_name", flat=True
                        )
                    )
                _plan_unknown_user(
                    plan, user, lambda u=user: wanted(u, None), names, pending_identities
                )
            continue
        change = _plan_known_user(plan, user, account_id, accounts[account_id], wanted)
        change.remove = removals.pop(account_id, [])
        if not change.empty:
            plan.changes.append(change)

    for account_id in linked_accounts - seen_accounts:
        name, _, _, status, _ = accounts[account_id]
        change = AccountChange(account_id, name, remove=removals.pop(account_id, []))
        if status == Account.Status.ACTIVE:
            change.suspend = f"{SUSPEND_REASON_PREFIX} ({provider.nickname}): no longer in IAM"
        if not change.empty:
            plan.changes.append(change)

    holders.clear()  # not needed any more: let the group step reuse the memory
    claims.clear()
    _plan_groups(plan, snapshot, links)
    return plan


def _plan_unknown_user(
    plan: Plan,
    user: StagedUser,
    identities: Callable[[], list[Key]],
    taken_names: set[str],
    pending_identities: set[str],
) -> None:
    link = oidc_identity(sub=user.scim_id, issuer=plan.provider.issuer)
    policy = plan.provider.unknown_users
    if policy == "auto":
        name = _take_name(user, taken_names)
        plan.new_accounts.append(
            NewAccount(
                scim_id=user.scim_id,
                name=name,
                email=user.email,
                display_name=user.display_name,
                identities=[(OIDC, link), *identities()],
            )
        )
    elif policy == "register" and link not in pending_identities:
        plan.registrations.append(
            Registration(
                idp=plan.provider.nickname,
                identity=link,
                requested_name=_take_name(user, taken_names),
                email=user.email,
                display_name=user.display_name,
                comment=f"Found in IAM by the SCIM sync of {plan.provider.nickname}.",
            )
        )
    else:
        plan.ignored += 1


def _take_name(user: StagedUser, taken_names: set[str]) -> str:
    name = account_name_derive(user.user_name or user.scim_id, taken=taken_names.__contains__)
    taken_names.add(name)
    return name


def _plan_known_user(plan, user, account_id, account, wanted) -> AccountChange:
    name, email, display, status, reason = account
    change = AccountChange(account_id, name)
    if user.active:
        change.add = sorted(wanted(user, account_id))
        if status == Account.Status.SUSPENDED and reason.startswith(SUSPEND_REASON_PREFIX):
            change.reactivate = True
        if user.email and user.email != email:
            change.email = user.email
        if user.display_name and user.display_name != display:
            change.display_name = user.display_name
    elif status == Account.Status.ACTIVE:
        change.suspend = (
            f"{SUSPEND_REASON_PREFIX} ({plan.provider.nickname}): {user.inactive_reason}"
        )
    return change


def _plan_groups(plan: Plan, snapshot: Snapshot, links: dict[str, int]) -> None:
    nick = plan.provider.nickname
    existing = _existing_groups(nick, snapshot.followed)
    for scim_id, name in snapshot.groups.items():
        if scim_id not in existing:
            plan.groups_create[scim_id] = name
        elif existing[scim_id][1] != name:
            plan.groups_rename[existing[scim_id][0]] = name
    for scim_id, (pk, _, linked) in existing.items():
        if scim_id not in snapshot.groups:
            (plan.groups_emptied if linked else plan.groups_remove).append(pk)
    # Memberships as one int each, (group pk << 32) | account pk: there are 200,000 of them.
    group_pks = {scim_id: pk for scim_id, (pk, _, _) in existing.items()}
    scim_ids = {pk: scim_id for scim_id, pk in group_pks.items()}
    current = {
        (group << 32) | account: pk
        for pk, group, account in IdpGroupMembership.objects.filter(group__idp=nick)
        .values_list("pk", "group_id", "account_id")
        .iterator(chunk_size=20000)
    }
    new_account_ids = {n.scim_id for n in plan.new_accounts}
    desired: set[int] = set()
    pending: list[tuple[str, int | str]] = []  # a new group or a new account: no pk yet

    def want(group: str, owner: int | str) -> None:
        group_pk = group_pks.get(group)
        if group_pk is not None and isinstance(owner, int):
            desired.add((group_pk << 32) | owner)
        else:
            pending.append((group, owner))

    def owner_of(scim_id: str) -> int | str | None:
        owner = links.get(scim_id)
        return scim_id if owner is None and scim_id in new_account_ids else owner

    # Followed groups: their members as IAM lists them (read for this run); others: the groups
    # each user names.
    for group, member_ids in snapshot.members.items():
        for scim_id in member_ids:
            if (owner := owner_of(scim_id)) is not None:
                want(group, owner)
    for user in snapshot.users.values():
        if user.unreadable:
            continue
        owner = owner_of(user.scim_id)
        if owner is None:
            continue
        for group in user.groups:
            if group in snapshot.groups and group not in snapshot.members:
                want(group, owner)
    unreadable_accounts = {links.get(u.scim_id) for u in snapshot.users.values() if u.unreadable}
    plan.group_members_add = pending + [
        (scim_ids[key >> 32], key & 0xFFFFFFFF) for key in desired - current.keys()
    ]
    plan.group_members_remove = sorted(
        pk
        for key, pk in current.items()
        if key not in desired and (key & 0xFFFFFFFF) not in unreadable_accounts
    )


def _existing_groups(nick: str, followed: set[str]) -> dict[str, tuple[int, str, bool]]:
    return {
        scim_id: (pk, name, scim_id in followed)
        for scim_id, pk, name in IdpGroup.objects.filter(idp=nick).values_list(
            "scim_id", "pk", "name"
        )
    }
