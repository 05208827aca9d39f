"""A loopback SCIM service that behaves like INDIGO IAM v1.12, for tests and benchmarks.

    directory = ScimDirectory()
    jane = directory.add_user("jane", oidc_ids=[(issuer, "sub-1")],
                              certificates=certificates("CN=Jane Doe,O=Example,C=DE"))
    group = directory.add_group("campaign-x")
    directory.add_member(group.id, jane.id)
    verifier = JwtBearerVerifier(idp.issuer, audience=idp.scim_audience)
    with ScimService(directory, verifier) as scim:
        scim.scim_url                      # http://127.0.0.1:<port>/scim
        scim.faults.fail_once("/scim/Users", start_index=101)
        scim.fetched("/scim/Users")        # what was asked for, with status and paging

Run as a process for the benchmark: `python -m tests.harness.scim_service --help`.
"""

from .auth import (
    BearerVerifier,
    InsufficientScope,
    JwtBearerVerifier,
    StaticBearerVerifier,
)
from .directory import (
    IamCertificate,
    IamGroup,
    IamSamlId,
    IamSshKey,
    IamUser,
    ScimDirectory,
    certificates,
    generated_directory,
)
from .faults import Fault, FaultPlan
from .server import ORDERS, RequestRecord, ScimService

__all__ = [
    "ORDERS",
    "BearerVerifier",
    "Fault",
    "FaultPlan",
    "IamCertificate",
    "IamGroup",
    "IamSamlId",
    "IamSshKey",
    "IamUser",
    "InsufficientScope",
    "JwtBearerVerifier",
    "RequestRecord",
    "ScimDirectory",
    "ScimService",
    "StaticBearerVerifier",
    "certificates",
    "generated_directory",
]
