"""IAM v1.12's JSON for users, groups, member references and list responses.

Facts taken from IAM's SCIM converters and its published API examples: Jackson's NON_EMPTY
drops empty lists and unset strings (so `groups`, `oidcIds`, `certificates` ... are absent,
never []), while booleans such as `serviceAccount` and `hasProxyCertificate` are always sent;
`displayName` of a user is the username; dates carry milliseconds and an offset; the IndigoUser
extension is always present on users and the IndigoGroup one (possibly {}) on groups.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .directory import IamCertificate, IamGroup, IamUser

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
INDIGO_USER_SCHEMA = "urn:indigo-dc:scim:schemas:IndigoUser"
INDIGO_GROUP_SCHEMA = "urn:indigo-dc:scim:schemas:IndigoGroup"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_CONTENT_TYPE = "application/scim+json;charset=UTF-8"

# IAM's own examples are written in Europe/Rome summer time.
DEFAULT_TZ = timezone(timedelta(hours=2))


def format_date(value: datetime, tz: timezone = DEFAULT_TZ) -> str:
    """Java's yyyy-MM-dd'T'HH:mm:ss.SSSXXX: milliseconds, and 'Z' for a zero offset."""
    local = value.astimezone(tz)
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _meta(created: datetime, modified: datetime, location: str, kind: str, tz: timezone) -> dict:
    return {
        "created": format_date(created, tz),
        "lastModified": format_date(modified, tz),
        "location": location,
        "resourceType": kind,
    }


def _non_empty(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


def _certificate(cert: IamCertificate, tz: timezone) -> dict:
    body = {
        "primary": cert.primary,
        "subjectDn": cert.subject_dn,
        "issuerDn": cert.issuer_dn,
        "pemEncodedCertificate": cert.pem,
        "display": cert.display,
        "created": format_date(cert.created, tz),
        "lastModified": format_date(cert.last_modified, tz),
    }
    return {**_non_empty(body), "hasProxyCertificate": False}


def group_ref(group: IamGroup, base_url: str) -> dict:
    return {
        "display": group.name,
        "value": group.id,
        "$ref": f"{base_url}/scim/Groups/{group.id}",
    }


def user_resource(
    user: IamUser, groups: list[IamGroup], base_url: str, tz: timezone = DEFAULT_TZ
) -> dict:
    indigo = _non_empty(
        {
            "oidcIds": [{"issuer": iss, "subject": sub} for iss, sub in user.oidc_ids],
            "sshKeys": [
                _non_empty(
                    {
                        "display": key.display,
                        "primary": key.primary,
                        "value": key.value,
                        "fingerprint": key.fingerprint,
                        "created": format_date(key.created, tz),
                        "lastModified": format_date(key.last_modified, tz),
                    }
                )
                for key in user.ssh_keys
            ],
            "samlIds": [
                _non_empty({"idpId": s.idp_id, "userId": s.user_id, "attributeId": s.attribute_id})
                for s in user.saml_ids
            ],
            "certificates": [_certificate(c, tz) for c in user.certificates],
            "aupSignatureTime": user.aup_signature_time
            and format_date(user.aup_signature_time, tz),
            "endTime": user.end_time and format_date(user.end_time, tz),
        }
    )
    indigo["serviceAccount"] = user.service_account
    name = _non_empty(
        {
            "familyName": user.family_name,
            "formatted": user.full_name,
            "givenName": user.given_name,
        }
    )
    body = {
        "id": user.id,
        "meta": _meta(
            user.created,
            user.last_modified,
            f"{base_url}/scim/Users/{user.id}",
            "User",
            tz,
        ),
        "schemas": [USER_SCHEMA, INDIGO_USER_SCHEMA],
        "userName": user.user_name,
        "name": name,
        "displayName": user.user_name,
        "active": user.active,
        "emails": [{"type": "work", "value": user.email, "primary": True}] if user.email else [],
        "affiliation": user.affiliation,
        "groups": [group_ref(g, base_url) for g in groups],
        INDIGO_USER_SCHEMA: indigo,
    }
    return _non_empty(body)


def group_resource(
    group: IamGroup, parent: IamGroup | None, base_url: str, tz: timezone = DEFAULT_TZ
) -> dict:
    indigo = _non_empty(
        {
            "parentGroup": group_ref(parent, base_url) if parent else None,
            "description": group.description,
        }
    )
    return {
        "id": group.id,
        "meta": _meta(
            group.created,
            group.last_modified,
            f"{base_url}/scim/Groups/{group.id}",
            "Group",
            tz,
        ),
        "schemas": [GROUP_SCHEMA, INDIGO_GROUP_SCHEMA],
        "displayName": group.name,
        INDIGO_GROUP_SCHEMA: indigo,
    }


def member_ref(user: IamUser, base_url: str) -> dict:
    """An entry of /Groups/{id}/members: IAM shows the person's name, not the username."""
    return {
        "display": user.full_name,
        "value": user.id,
        "$ref": f"{base_url}/scim/Users/{user.id}",
    }


def subgroup_ref(group: IamGroup, base_url: str) -> dict:
    return group_ref(group, base_url)


def list_response(total: int, start_index: int, resources: list[dict]) -> dict:
    """IAM's ListResponse: itemsPerPage is what this page holds; no Resources key when empty."""
    body = {
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start_index,
        "schemas": [LIST_SCHEMA],
    }
    if resources:
        body["Resources"] = resources
    return body


def scim_error(status: int, detail: str) -> dict:
    return {"status": str(status), "detail": detail, "schemas": [ERROR_SCHEMA]}


def filter_attributes(resource: dict, attributes: set[str]) -> dict:
    """IAM's `attributes=` parameter: keep the named top-level attributes, plus id and schemas."""
    keep = attributes | {"id", "schemas"}
    return {k: v for k, v in resource.items() if k in keep}
