"""INDIGO IAM's SCIM resources as scim2-models: User with IndigoUser, Group with IndigoGroup.

Attribute names follow IAM's converters (ScimIndigoUser, ScimX509Certificate, ScimIndigoGroup).
Payloads are read with TOLERANT, so attributes IAM adds later (labels, authorities, ...) are
dropped instead of failing a sync.
"""

from datetime import datetime

from pydantic import Field
from scim2_models import URN, ComplexAttribute, Extension, Group, ScimPolicy, User

TOLERANT = ScimPolicy(unknown=ScimPolicy.Unknown.ignore)


class OidcId(ComplexAttribute):
    issuer: str | None = None
    subject: str | None = None


class X509Certificate(ComplexAttribute):
    primary: bool | None = None
    subject_dn: str | None = None
    """RFC 2253 form, most specific RDN first: CN=Jane Doe,O=Example,C=DE."""
    issuer_dn: str | None = None
    pem_encoded_certificate: str | None = None
    display: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    has_proxy_certificate: bool | None = None


class SshKey(ComplexAttribute):
    display: str | None = None
    primary: bool | None = None
    value: str | None = None
    fingerprint: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None


class SamlId(ComplexAttribute):
    idp_id: str | None = None
    user_id: str | None = None
    attribute_id: str | None = None


class IndigoUser(Extension):
    __schema__ = URN("urn:indigo-dc:scim:schemas:IndigoUser")

    oidc_ids: list[OidcId] | None = None
    ssh_keys: list[SshKey] | None = None
    saml_ids: list[SamlId] | None = None
    certificates: list[X509Certificate] | None = None
    aup_signature_time: datetime | None = None
    end_time: datetime | None = None
    service_account: bool | None = None


class GroupRef(ComplexAttribute):
    value: str | None = None
    display: str | None = None
    ref: str | None = Field(None, serialization_alias="$ref", validation_alias="$ref")


class IndigoGroup(Extension):
    __schema__ = URN("urn:indigo-dc:scim:schemas:IndigoGroup")

    parent_group: GroupRef | None = None
    description: str | None = None


IamUser = User[IndigoUser]
IamGroup = Group[IndigoGroup]
