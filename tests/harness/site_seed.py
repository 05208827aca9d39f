"""`python -m tests.harness.site_seed`: a small cast for a Gatehouse served by a separate process.

Run with DATABASE_URL (migrated) and SECRET_KEY as the server has them. Prints one JSON line:
the campaign's slug, a node token's secret and session cookies for the requester and the admin
(sessions live in the database, so the server accepts them).
"""

import json

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.test import Client

    from accounts.services import account_create
    from campaigns.services import campaign_create, node_token_create

    def person(name: str, **extra):
        return account_create(name=name, email=f"{name}@example.org", display_name=name, **extra)

    admin = person("admin", is_staff=True, is_superuser=True)
    pi, requester = person("pi"), person("requester")
    campaign = campaign_create(slug="faults", title="Faults", pi=pi, actor=admin)
    _, secret = node_token_create(name="faults-node", actor=admin)
    sessions = {}
    for account in (requester, admin):
        client = Client()
        client.force_login(account)
        sessions[account.name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    print(json.dumps({"campaign": campaign.slug, "node_token": secret, "sessions": sessions}))


if __name__ == "__main__":
    main()
