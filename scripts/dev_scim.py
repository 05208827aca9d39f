"""`make run`'s IAM-like SCIM service: the loopback SCIM server of the tests (IAM v1.12
behaviour) serving the dev IdP's demo people and a few more, for the dev IdP's SCIM client.

    python scripts/dev_scim.py var/devidp.json --port 9401

Bearer tokens must be the dev IdP's client-credentials tokens with scope scim:read and the
IdP's SCIM audience ({issuer}scim), exactly what the portal's SCIM sync asks for.
"""

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.harness.scim_service import (  # noqa: E402
    JwtBearerVerifier,
    ScimDirectory,
    ScimService,
    certificates,
)

# People IAM knows beyond the dev IdP's login users: they appear in the portal after a sync.
MORE_PEOPLE = [
    ("erin", "Erin", "Eriksen", "CN=Erin Eriksen,OU=Astro,O=Example Observatory,C=SE"),
    ("frank", "Frank", "Fischer", "CN=Frank Fischer,O=GermanGrid,C=DE"),
    ("grace", "Grace", "Green", ""),
]
CERTIFICATES = {"alice": "CN=Alice Archer,OU=Survey,O=Example Observatory,C=DE"}


def demo_directory(config: dict) -> ScimDirectory:
    directory = ScimDirectory()
    everyone = directory.add_group("gatehouse")
    pis = directory.add_group("pi", parent=everyone)
    for user in config.get("users", []):
        dn = CERTIFICATES.get(user["username"])
        added = directory.add_user(
            user["username"],
            id=user["sub"],  # as in IAM: the SCIM id is the subject of the user's logins
            given_name=user.get("given_name", ""),
            family_name=user.get("family_name", ""),
            email=user.get("email"),
            certificates=certificates(dn) if dn else [],
        )
        groups = user.get("groups", [])
        if "gatehouse" in groups:
            directory.add_member(everyone.id, added.id)
        if "gatehouse/pi" in groups:
            directory.add_member(pis.id, added.id)
    for number, (name, given, family, dn) in enumerate(MORE_PEOPLE, start=1):
        added = directory.add_user(
            name,
            id=f"6b1a3d0e-5f2c-4c1e-9a47-5c1500000{number:03d}",
            given_name=given,
            family_name=family,
            certificates=certificates(dn) if dn else [],
        )
        directory.add_member(everyone.id, added.id)
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/dev_scim.py")
    parser.add_argument("idp_config", help="the dev IdP's config (users, issuer)")
    parser.add_argument("--port", type=int, default=9401)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.idp_config).read_text())
    issuer = config["issuer"]
    audience = config.get("scim_audience") or issuer.rstrip("/") + "/scim"
    service = ScimService(
        demo_directory(config), JwtBearerVerifier(issuer, audience=audience), port=args.port
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"SCIM service for {issuer} at {service.scim_url}", flush=True)
    stop.wait()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
