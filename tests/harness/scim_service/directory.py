"""The people and groups the loopback SCIM service serves, as INDIGO IAM keeps them.

A test builds a small directory by hand and changes it between sync runs; the benchmark asks
for a generated one. Generated users are built from their index when a page needs them (only
the ids and the memberships are kept), so 100,000 users cost tens of megabytes, not gigabytes.
A generated user that a test changes is copied into the directory first.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


@dataclass
class IamCertificate:
    """An X.509 certificate linked to an IAM account; DNs in RFC 2253 form, as IAM sends them."""

    subject_dn: str
    issuer_dn: str = "CN=Test CA,O=Gatehouse Test,C=DE"
    primary: bool = False
    display: str = ""
    pem: str = ""
    created: datetime = EPOCH
    last_modified: datetime = EPOCH


@dataclass
class IamSshKey:
    value: str
    display: str = ""
    primary: bool = False
    fingerprint: str = ""
    created: datetime = EPOCH
    last_modified: datetime = EPOCH


@dataclass
class IamSamlId:
    idp_id: str
    user_id: str
    attribute_id: str = ""


@dataclass
class IamUser:
    """One IAM account. `oidc_ids` holds (issuer, subject) pairs."""

    id: str
    user_name: str
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    active: bool = True
    oidc_ids: list[tuple[str, str]] = field(default_factory=list)
    certificates: list[IamCertificate] = field(default_factory=list)
    ssh_keys: list[IamSshKey] = field(default_factory=list)
    saml_ids: list[IamSamlId] = field(default_factory=list)
    aup_signature_time: datetime | None = None
    end_time: datetime | None = None
    service_account: bool = False
    affiliation: str = ""
    created: datetime = EPOCH
    last_modified: datetime = EPOCH

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)


@dataclass
class IamGroup:
    """An IAM group; `name` is IAM's full name ("parent/child") and is what SCIM displays."""

    id: str
    name: str
    parent_id: str | None = None
    description: str = ""
    created: datetime = EPOCH
    last_modified: datetime = EPOCH


def _uuid_from(*parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class UserGenerator:
    """Deterministic users from (seed, index): one OIDC id and one certificate each by default.

    Every 97th user has a DN with an escaped comma and every 89th one with non-ASCII letters,
    so DN handling is exercised at scale too.
    """

    GIVEN = ("Anna", "Bruno", "Chiara", "Dario", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas")
    FAMILY = ("Rossi", "Bauer", "Novak", "Dubois", "Silva", "Lindqvist", "Kowalski", "Moreau")

    def __init__(
        self,
        *,
        seed: int,
        count: int,
        oidc_issuer: str,
        oidc_ids: int = 1,
        certificates: int = 1,
    ):
        self.seed = seed
        self.count = count
        self.oidc_issuer = oidc_issuer
        self.oidc_ids = oidc_ids
        self.certificates = certificates
        self.ids = [_uuid_from("user", seed, i) for i in range(count)]

    def user(self, index: int) -> IamUser:
        given = self.GIVEN[index % len(self.GIVEN)]
        family = self.FAMILY[(index // len(self.GIVEN)) % len(self.FAMILY)]
        if index % 89 == 0:
            given, family = "Jürgen", "Müller-Lüdenscheidt"
        user_name = f"user{index:06d}"
        created = EPOCH + timedelta(minutes=index)
        oidc = [
            (self.oidc_issuer, _uuid_from("sub", self.seed, index, n)) for n in range(self.oidc_ids)
        ]
        certs = []
        for n in range(self.certificates):
            cn = f"{given} {family} {index}" + (f" cert{n}" if n else "")
            if index % 97 == 0:
                cn = f"{family}\\, {given} {index}" + (f" cert{n}" if n else "")
            certs.append(
                IamCertificate(
                    subject_dn=f"CN={cn},OU=Users,O=Gatehouse Test,C=DE",
                    primary=n == 0,
                    display=f"cert {n}",
                    created=created,
                    last_modified=created,
                )
            )
        return IamUser(
            id=self.ids[index],
            user_name=user_name,
            given_name=given,
            family_name=family,
            email=f"{user_name}@example.org",
            oidc_ids=oidc,
            certificates=certs,
            aup_signature_time=created,
            created=created,
            last_modified=created,
        )


class ScimDirectory:
    """Users, groups and direct memberships; every method is safe while the service runs.

    Changes bump `version`, which the service uses to rebuild its list orders.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.version = 0
        # id -> IamUser, or an int index into the generator for a not-yet-copied generated user.
        self._users: dict[str, IamUser | int] = {}
        self._groups: dict[str, IamGroup] = {}
        # Ordered sets (dict keys) so "stable" order is insertion order.
        self._members: dict[str, dict[str, None]] = {}
        self._user_groups: dict[str, dict[str, None]] = {}
        self._generator: UserGenerator | None = None

    # reading
    def user(self, user_id: str) -> IamUser | None:
        with self.lock:
            entry = self._users.get(user_id)
            if entry is None or isinstance(entry, IamUser):
                return entry
            assert self._generator is not None
            return self._generator.user(entry)

    def group(self, group_id: str) -> IamGroup | None:
        with self.lock:
            return self._groups.get(group_id)

    def user_ids(self) -> list[str]:
        with self.lock:
            return list(self._users)

    def group_ids(self) -> list[str]:
        with self.lock:
            return list(self._groups)

    def member_ids(self, group_id: str) -> list[str]:
        with self.lock:
            return list(self._members.get(group_id, ()))

    def groups_of(self, user_id: str) -> list[IamGroup]:
        with self.lock:
            return [self._groups[g] for g in self._user_groups.get(user_id, ())]

    def subgroup_ids(self, group_id: str) -> list[str]:
        with self.lock:
            return [g.id for g in self._groups.values() if g.parent_id == group_id]

    def __len__(self) -> int:
        return len(self._users)

    # changing users
    def add_user(
        self,
        user_name: str,
        *,
        id: str | None = None,
        given_name: str = "",
        family_name: str = "",
        email: str | None = None,
        **attributes: object,
    ) -> IamUser:
        """Add a user; `attributes` are further IamUser fields (oidc_ids, certificates, ...)."""
        with self.lock:
            user = IamUser(
                id=id or str(uuid.uuid4()),
                user_name=user_name,
                given_name=given_name or user_name.capitalize(),
                family_name=family_name or "Tester",
                email=email if email is not None else f"{user_name}@example.org",
                **attributes,  # type: ignore[arg-type]
            )
            if user.id in self._users:
                raise ValueError(f"user id {user.id} already exists")
            self._users[user.id] = user
            self._user_groups.setdefault(user.id, {})
            self.version += 1
            return copy.deepcopy(user)

    def update_user(self, user_id: str, **changes: object) -> IamUser:
        """Change IamUser fields, e.g. active=False, end_time=datetime(...)."""
        with self.lock:
            user = self._own_user(user_id)
            updated = replace(user, **changes, last_modified=datetime.now(UTC))  # type: ignore[arg-type]
            self._users[user_id] = updated
            self.version += 1
            return copy.deepcopy(updated)

    def add_certificate(self, user_id: str, certificate: IamCertificate) -> IamUser:
        with self.lock:
            user = self._own_user(user_id)
            return self.update_user(user_id, certificates=[*user.certificates, certificate])

    def remove_certificate(self, user_id: str, subject_dn: str) -> IamUser:
        with self.lock:
            user = self._own_user(user_id)
            kept = [c for c in user.certificates if c.subject_dn != subject_dn]
            return self.update_user(user_id, certificates=kept)

    def add_oidc_id(self, user_id: str, issuer: str, subject: str) -> IamUser:
        with self.lock:
            user = self._own_user(user_id)
            return self.update_user(user_id, oidc_ids=[*user.oidc_ids, (issuer, subject)])

    def remove_user(self, user_id: str) -> None:
        """Delete the account from IAM, with its memberships."""
        with self.lock:
            if self._users.pop(user_id, None) is None:
                raise KeyError(user_id)
            for group_id in self._user_groups.pop(user_id, {}):
                self._members[group_id].pop(user_id, None)
            self.version += 1

    # changing groups
    def add_group(
        self,
        name: str,
        *,
        parent: IamGroup | str | None = None,
        id: str | None = None,
        description: str = "",
    ) -> IamGroup:
        """Add a group; under a parent its SCIM displayName becomes "parent/name", as in IAM."""
        with self.lock:
            parent_group = (
                self._groups[parent if isinstance(parent, str) else parent.id] if parent else None
            )
            group = IamGroup(
                id=id or str(uuid.uuid4()),
                name=f"{parent_group.name}/{name}" if parent_group else name,
                parent_id=parent_group.id if parent_group else None,
                description=description,
            )
            self._groups[group.id] = group
            self._members[group.id] = {}
            self.version += 1
            return replace(group)

    def remove_group(self, group_id: str) -> None:
        with self.lock:
            del self._groups[group_id]
            for user_id in self._members.pop(group_id, {}):
                self._user_groups[user_id].pop(group_id, None)
            self.version += 1

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            if group_id not in self._groups or user_id not in self._users:
                raise KeyError(f"no group {group_id} or no user {user_id}")
            self._members[group_id][user_id] = None
            self._user_groups.setdefault(user_id, {})[group_id] = None
            self.version += 1

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self._members[group_id].pop(user_id, None)
            self._user_groups.get(user_id, {}).pop(group_id, None)
            self.version += 1

    def _own_user(self, user_id: str) -> IamUser:
        """The user as an editable record (a generated one is copied in first)."""
        entry = self._users[user_id]
        if isinstance(entry, int):
            assert self._generator is not None
            entry = self._generator.user(entry)
            self._users[user_id] = entry
        return entry

    # generation
    def load_generated(
        self,
        *,
        users: int,
        groups: int,
        seed: int = 1,
        oidc_issuer: str = "https://iam.example.org/",
        memberships_per_user: int = 2,
        oidc_ids: int = 1,
        certificates: int = 1,
    ) -> None:
        """Fill an empty directory with generated users and groups (deterministic from seed).

        A quarter of the groups are top level; the rest are their subgroups. User i is a
        direct member of `memberships_per_user` groups spread evenly over all groups.
        """
        with self.lock:
            if self._users or self._groups:
                raise ValueError("load_generated needs an empty directory")
            gen = UserGenerator(
                seed=seed,
                count=users,
                oidc_issuer=oidc_issuer,
                oidc_ids=oidc_ids,
                certificates=certificates,
            )
            self._generator = gen
            self._users = {user_id: i for i, user_id in enumerate(gen.ids)}
            top = max(1, groups // 4)
            group_ids = []
            for k in range(groups):
                gid = _uuid_from("group", seed, k)
                if k < top:
                    self.add_group(f"vo-{k:04d}", id=gid, description=f"Top-level group {k}")
                else:
                    self.add_group(f"grp-{k:04d}", id=gid, parent=group_ids[k % top])
                group_ids.append(gid)
            self._user_groups = {}
            if groups:
                for i, user_id in enumerate(gen.ids):
                    mine = {
                        group_ids[(i * memberships_per_user + j) % groups]: None
                        for j in range(memberships_per_user)
                    }
                    self._user_groups[user_id] = mine
                    for gid in mine:
                        self._members[gid][user_id] = None
            self.version += 1


def generated_directory(**options: object) -> ScimDirectory:
    """A new directory filled by ScimDirectory.load_generated(**options)."""
    directory = ScimDirectory()
    directory.load_generated(**options)  # type: ignore[arg-type]
    return directory


def certificates(
    *dns: str, issuer_dn: str = "CN=Test CA,O=Gatehouse Test,C=DE"
) -> list[IamCertificate]:
    """Certificates for these RFC 2253 subject DNs, the first one primary."""
    return [
        IamCertificate(subject_dn=dn, issuer_dn=issuer_dn, primary=i == 0)
        for i, dn in enumerate(dns)
    ]
