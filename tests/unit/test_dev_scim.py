"""make run's SCIM service serves the dev IdP's people the way IAM does: the SCIM id of each is
the subject of their logins (what the portal's sync links accounts by), plus a few more."""

import json
from pathlib import Path

from scripts.dev_scim import MORE_PEOPLE, demo_directory

DEMO = json.loads((Path(__file__).resolve().parents[2] / "devidp" / "demo.json").read_text())


def test_every_login_user_is_in_scim_under_their_subject():
    directory = demo_directory(DEMO)
    users = {u.user_name: u for u in map(directory.user, directory.user_ids())}
    for login in DEMO["users"]:
        assert users[login["username"]].id == login["sub"]
        assert users[login["username"]].email == login["email"]
    assert {name for name, *_ in MORE_PEOPLE} <= set(users)
    assert len(users) == len(DEMO["users"]) + len(MORE_PEOPLE)
    assert any(u.certificates for u in users.values())
