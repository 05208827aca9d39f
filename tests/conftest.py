"""The shared cast and the real services the tests run against.

PostgreSQL and Redis are started by tests/harness/plugin.py before Django reads its settings.
"""

import re

import pytest
from django.core.cache import cache
from django.db import connection

from accounts import idps
from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.services import account_create, identity_add


def _person(name: str, **extra) -> Account:
    return account_create(
        name=name,
        email=f"{name}@example.org",
        display_name=name.replace("-", " ").title(),
        **extra,
    )


@pytest.fixture
def admin(db) -> Account:
    return _person("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def pi(db) -> Account:
    return _person("pi")


@pytest.fixture
def manager(db) -> Account:
    return _person("manager")


@pytest.fixture
def member(db) -> Account:
    return _person("member")


@pytest.fixture
def requester(db) -> Account:
    return _person("requester")


@pytest.fixture
def outsider(db) -> Account:
    return _person("outsider")


@pytest.fixture(autouse=True)
def mail_in_this_process(request, monkeypatch):
    """Outside tests marked `celery`, queued mail is delivered in the test process (Celery's
    own `apply`, as CELERY_TASK_ALWAYS_EAGER would), so `mail.outbox` sees it after commit.
    Tests marked `celery` keep the real path: broker, worker, the worker's mail backend."""
    if request.node.get_closest_marker("celery") is None:
        from accounts.mail import mail_deliver

        monkeypatch.setattr(
            mail_deliver,
            "apply_async",
            lambda args=None, kwargs=None, **options: mail_deliver.apply(args, kwargs),
        )


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker on the test database; use with @pytest.mark.django_db(transaction=True)."""
    from tests.harness.celery_worker import start_worker

    with django_db_blocker.unblock():
        settings = connection.settings_dict
        url = (
            f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/"
            f"{settings['NAME']}"
        )
    worker = start_worker(
        database_url=url, logfile=tmp_path_factory.mktemp("celery") / "worker.log"
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.harness.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def sign_in(live_server):
    """sign_in(page, account): a browser session for `account` without the IdP round trip.

    Tests of the OIDC login itself use `login_as`; everything else starts already signed in.
    """
    from django.conf import settings
    from django.test import Client

    def _sign_in(page, account) -> None:
        client = Client()
        client.force_login(account)
        page.context.clear_cookies()
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )

    return _sign_in


@pytest.fixture
def page(browser, live_server, request, tmp_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# ---- Identity providers -------------------------------------------------------------------------
# Two real OpenID providers (devidp: node-oidc-provider) on loopback, one client each for the
# portal (redirect URIs for the live server and for Django's test client), and the idpsecrets.json
# that points the portal at both. Users and passwords: IDP_USERS below (alice exists at both
# providers, with different subjects).

IDP_CLIENT_ID = "gatehouse-test"
IDP_CLIENT_SECRET = "gatehouse-test-secret"
IDP_SCIM_CLIENT = {
    "client_id": "gatehouse-scim",
    "client_secret": "gatehouse-scim-secret",
    "grant_types": ["client_credentials"],
    "scope": "scim:read",
}


def _idp_user(username: str, sub: str, name: str, **extra) -> dict:
    return {
        "sub": sub,
        "username": username,
        "password": f"{username}-pw",
        "email": f"{username}@example.org",
        "name": name,
        "given_name": name.split()[0],
        "family_name": name.split()[-1],
        **extra,
    }


IDP_USERS = {
    "wlcg": [
        _idp_user("alice", "a11ce-wlcg-0001", "Alice Archer", groups=["gatehouse"]),
        _idp_user("bob", "b0b-wlcg-0002", "Bob Baker"),
        _idp_user("carol", "ca401-wlcg-0003", "Carol Cooper"),
    ],
    "cern": [
        _idp_user("alice", "a11ce-cern-1001", "Alice Archer"),
        _idp_user("dave", "da7e-cern-1004", "Dave Dunn"),
    ],
}


def _portal_client(live_server_url: str) -> dict:
    origins = [live_server_url, "http://testserver"]
    return {
        "client_id": IDP_CLIENT_ID,
        "client_secret": IDP_CLIENT_SECRET,
        "client_name": "Gatehouse",
        "redirect_uris": [f"{origin}/oidc/callback/" for origin in origins],
        "post_logout_redirect_uris": [f"{origin}/" for origin in origins],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email offline_access wlcg.groups",
    }


@pytest.fixture(scope="session")
def idp_wlcg(live_server, tmp_path_factory):
    """A WLCG-IAM-like provider (issuer ends with "/"), users IDP_USERS["wlcg"]."""
    from tests.harness.idp import start_idp

    with start_idp(
        workdir=tmp_path_factory.mktemp("idp-wlcg"),
        clients=[_portal_client(live_server.url), IDP_SCIM_CLIENT],
        users=IDP_USERS["wlcg"],
        display_name="WLCG IAM",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def idp_cern(live_server, tmp_path_factory):
    """A CERN-SSO-like provider (Keycloak-style issuer without "/"), users IDP_USERS["cern"]."""
    from tests.harness.idp import start_idp

    with start_idp(
        workdir=tmp_path_factory.mktemp("idp-cern"),
        clients=[_portal_client(live_server.url)],
        users=IDP_USERS["cern"],
        display_name="CERN SSO",
        issuer_path="/auth/realms/cern",
    ) as running:
        yield running


def _idpsecrets_entry(idp, label: str, **extra) -> dict:
    """One provider's entry in Rucio's idpsecrets.json format (redirect_uris are Rucio's own)."""
    return {
        "issuer": idp.issuer,
        "client_id": IDP_CLIENT_ID,
        "client_secret": IDP_CLIENT_SECRET,
        "redirect_uris": ["https://rucio-auth.example.org/auth/oidc_code"],
        "display_name": label,
        **extra,
    }


@pytest.fixture
def idpsecrets(idp_wlcg, idp_cern, settings, tmp_path) -> dict[str, idps.IdentityProvider]:
    """The portal uses both providers: nicknames "wlcg" ("WLCG IAM") and "cern" ("CERN SSO").

    Unknown users must register (the default policy). Returns the providers by nickname.
    """
    from tests.harness.idpsecrets import use_idpsecrets

    entries = {
        "wlcg": {
            **_idpsecrets_entry(idp_wlcg, "WLCG IAM"),
            "SCIM": {
                "client_id": IDP_SCIM_CLIENT["client_id"],
                "client_secret": IDP_SCIM_CLIENT["client_secret"],
            },
        },
        "cern": _idpsecrets_entry(idp_cern, "CERN SSO"),
    }
    yield use_idpsecrets(settings, tmp_path / "idpsecrets.json", entries)
    idps._load.cache_clear()
    idps.key_source().forget()
    cache.clear()


@pytest.fixture
def rogue_idp(settings, tmp_path):
    """A misbehaving provider (tests/harness/rogue_idp.py), the portal's only one: "rogue".

    For tests of what the portal does with bad answers; set its knobs (`id_token_claims`,
    `sign_with`, `userinfo_sub`, ...) before the callback. Unknown users must register.
    """
    from tests.harness.idpsecrets import use_idpsecrets
    from tests.harness.rogue_idp import start_rogue_idp

    with start_rogue_idp() as rogue:
        entries = {"rogue": rogue.idpsecrets_entry()}
        use_idpsecrets(settings, tmp_path / "idpsecrets.json", entries)
        yield rogue


@pytest.fixture
def rogue_member(member, rogue_idp):
    """`member`, linked to the rogue provider's user: a good token from it logs them in."""
    identity_add(
        actor=None,
        account=member,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=rogue_idp.issuer, sub=rogue_idp.sub),
    )
    return member
    idps._load.cache_clear()
    idps.key_source().forget()
    cache.clear()


def _login_as(page, username: str, password: str, provider_label: str) -> None:
    """Log in through the portal's login page and the provider's form, like a person would.

    Returns once the browser is back on the portal (wherever the login led: the home page, the
    registration form, an error page). If the provider still has a session in this browser it
    does not ask again, and no form is filled.
    """
    page.goto("/login/")
    origin = re.match(r"https?://[^/]+", page.url).group(0)

    def back_on_portal(url: str) -> bool:
        return url.startswith(origin) and not url.startswith(f"{origin}/login/")

    page.get_by_role("link", name=provider_label).click()
    page.wait_for_url(lambda url: "/interaction/" in url or back_on_portal(url))
    if "/interaction/" in page.url:
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(back_on_portal)


@pytest.fixture
def login_as():
    """`login_as(page, username, password, provider_label)`: log in through the browser."""
    return _login_as
