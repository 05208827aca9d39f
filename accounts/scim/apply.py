"""Write a SCIM sync plan to the database: bulk statements inside the caller's transaction.

Each new or changed row is validated with full_clean() before it is written, and every change
to an account leaves an AuditEvent (bulk-inserted: a first sync creates 100,000 accounts).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from accounts.bulk import rows_insert
from accounts.models import (
    Account,
    Identity,
    IdpGroup,
    IdpGroupMembership,
    Registration,
)
from accounts.scim.plan import SCIM_SOURCE, Plan
from accounts.services import (
    accounts_suspended_effects,
    audit_record_many,
    audit_row,
    posix_ids_allocate,
)

BATCH = 5000


def plan_apply(plan: Plan) -> None:
    """Apply in order: removals first, so an identity can move between accounts in one run."""
    assert transaction.get_connection().in_atomic_block, "apply inside the run's transaction"
    nick = plan.provider.nickname
    actor_name = f"scim:{nick}"
    now = plan.now
    events: list[dict] = []

    def audit(action: str, account_id: int | None, target: str, comment: str = "", **detail):
        events.append(
            audit_row(
                action=action,
                actor_name=actor_name,
                account_id=account_id,
                target=target,
                comment=comment,
                detail={"idp": nick, **detail},
                created=now,
            )
        )
        if len(events) >= BATCH:  # written as we go: a first sync makes 100,000 of them
            audit_record_many(events=events)
            events.clear()

    # 1. identities the sync no longer wants
    stale = [pk for change in plan.changes for pk, _ in change.remove]
    for start in range(0, len(stale), BATCH):
        Identity.objects.filter(pk__in=stale[start : start + BATCH], source=SCIM_SOURCE).delete()

    # 2. existing accounts: status, email, display name
    updates: list[Account] = []
    fields: set[str] = set()
    for change in plan.changes:
        account = Account(pk=change.account_id, name=change.name)
        touched = []
        if change.suspend:
            account.status, account.status_reason = Account.Status.SUSPENDED, change.suspend[:300]
            touched += ["status", "status_reason"]
            audit(
                "scim.account.suspend", change.account_id, f"account:{change.name}", change.suspend
            )
        elif change.reactivate:
            account.status, account.status_reason = Account.Status.ACTIVE, ""
            touched += ["status", "status_reason"]
            audit("scim.account.reactivate", change.account_id, f"account:{change.name}")
        if change.email is not None:
            account.email = change.email
            touched.append("email")
        if change.display_name is not None:
            account.display_name = change.display_name[:200]
            touched.append("display_name")
        if touched:
            account.full_clean(exclude=_all_but(touched), validate_unique=False)
            account.updated = now
            updates.append(account)
            fields.update(touched)
        if change.add or change.remove or change.email is not None or change.display_name:
            audit(
                "scim.account.update",
                change.account_id,
                f"account:{change.name}",
                added=[k[1] for k in change.add],
                removed=[k[1] for _, k in change.remove],
                **({"email": change.email} if change.email is not None else {}),
            )
    if updates:
        Account.objects.bulk_update(updates, sorted(fields | {"updated"}), batch_size=BATCH)
    accounts_suspended_effects(account_ids=[c.account_id for c in plan.changes if c.suspend])

    # 3. new accounts, each with a fresh uid, and 4. identities to add: in batches, written
    # with COPY. Values from IAM are checked with the model fields' own clean() (what
    # full_clean runs for them); full_clean on 400,000 instances would take a minute.
    created: dict[str, int] = {}
    if plan.new_accounts:
        uids = iter(posix_ids_allocate(kind="uid", count=len(plan.new_accounts)))
        unusable = make_password(None)
        for specs in _batches(plan.new_accounts):
            rows = [
                {
                    "password": unusable,
                    "last_login": None,
                    "is_superuser": False,
                    "name": _clean(Account, "name", spec.name),
                    "type": Account.Type.USER.value,
                    "status": Account.Status.ACTIVE.value,
                    "status_reason": "",
                    "email": _clean(Account, "email", spec.email),
                    "display_name": _clean(Account, "display_name", spec.display_name[:200]),
                    "uid": next(uids),
                    "is_staff": False,
                    "created": now,
                    "updated": now,
                }
                for spec in specs
            ]
            identities = []
            for spec, account_id in zip(specs, _insert_accounts(rows), strict=True):
                created[spec.scim_id] = account_id
                identities += [
                    _identity(account_id, k, nick, now, spec.email) for k in spec.identities
                ]
                audit(
                    "scim.account.create",
                    account_id,
                    f"account:{spec.name}",
                    scim_id=spec.scim_id,
                    identities=[k[1] for k in spec.identities],
                )
            rows_insert(Identity, identities)
    for changes in _batches(plan.changes):
        rows_insert(
            Identity, [_identity(c.account_id, k, nick, now) for c in changes for k in c.add]
        )

    # 5. registrations waiting for an admin
    for registration in plan.registrations:
        registration.created = now
        registration.full_clean(validate_unique=False, validate_constraints=False)
        audit(
            "scim.registration.create",
            None,
            f"registration:{registration.requested_name}",
            identity=registration.identity,
        )
    Registration.objects.bulk_create(plan.registrations, batch_size=BATCH)

    # 6. IdP groups and their direct members
    _apply_groups(plan, created, audit)

    for conflict in plan.conflicts:
        audit("scim.identity.conflict", None, conflict["identity"], **conflict)
    audit_record_many(events=events)


def _batches(items: list) -> Iterator[list]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _clean(model, field: str, value):
    return model._meta.get_field(field).clean(value, None)


def _identity(account_id: int, key, nick: str, now, email: str = "") -> dict:
    kind, value = key
    oidc = kind == Identity.Type.OIDC
    return {
        "type": kind,
        "identity": _clean(Identity, "identity", value),
        "account_id": account_id,
        "email": email if oidc else "",
        "source": SCIM_SOURCE,
        "idp": nick if oidc else "",
        "created": now,
        "updated": now,
    }


def _insert_accounts(rows: list[dict]) -> list[int]:
    """New accounts, returning their ids (taken from the sequence first, for COPY)."""
    if connection.vendor != "postgresql":
        accounts = Account.objects.bulk_create([Account(**row) for row in rows])
        return [a.pk for a in accounts]
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    rows_insert(Account, [{"id": pk, **row} for pk, row in zip(ids, rows, strict=True)])
    return ids


def _all_but(fields: list[str]) -> list[str]:
    return [f.name for f in Account._meta.concrete_fields if f.name not in fields]


def _apply_groups(plan: Plan, created: dict[str, int], audit) -> None:
    nick = plan.provider.nickname
    if plan.groups_remove:
        IdpGroup.objects.filter(pk__in=plan.groups_remove).delete()
        audit("scim.group.remove", None, f"idp:{nick}", groups=len(plan.groups_remove))
    for pk, name in plan.groups_rename.items():
        IdpGroup.objects.filter(pk=pk).update(name=name[:300], updated=plan.now)
    fresh = [IdpGroup(idp=nick, scim_id=s, name=n[:300]) for s, n in plan.groups_create.items()]
    for group in fresh:
        group.full_clean(validate_unique=False, validate_constraints=False)
    IdpGroup.objects.bulk_create(fresh, batch_size=BATCH)
    if fresh or plan.groups_rename:
        audit(
            "scim.group.update",
            None,
            f"idp:{nick}",
            created=len(fresh),
            renamed=len(plan.groups_rename),
        )
    if plan.groups_emptied:
        IdpGroupMembership.objects.filter(group_id__in=plan.groups_emptied).delete()
    for start in range(0, len(plan.group_members_remove), BATCH):
        IdpGroupMembership.objects.filter(
            pk__in=plan.group_members_remove[start : start + BATCH]
        ).delete()
    group_pks = dict(IdpGroup.objects.filter(idp=nick).values_list("scim_id", "pk"))
    rows = [
        {
            "group_id": group_pks[group],
            "account_id": owner if isinstance(owner, int) else created[owner],
            "created": plan.now,
        }
        for group, owner in plan.group_members_add
    ]
    rows_insert(IdpGroupMembership, rows)
