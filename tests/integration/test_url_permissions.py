"""Every URL of the site, and who may use it: anonymous, an ordinary user with no relation to the
object, an admin; as a page and as an htmx request; writes POST-only and CSRF-protected.

The table is checked against `webui.urls` itself, so a new URL without a row here fails
`test_every_url_has_a_row`. The areas' own tests go further (every role of the campaign cast,
the owner of each object); this file is the net under all of them.
"""

import datetime
from dataclasses import dataclass

import pytest
from django.contrib import admin as django_admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import Identity, Registration
from accounts.services import identity_add, registration_create
from campaigns import services as campaign_services
from campaigns.models import CampaignRequest, Membership
from tokens.models import Token

pytestmark = pytest.mark.django_db

LOGIN = "login"  # expected: a redirect to the login page


@dataclass(frozen=True)
class Row:
    """One URL: the method to try, its arguments (names of objects in `world`), POST data, and
    the answer for anonymous, an unrelated user, and an admin (a status, or LOGIN)."""

    method: str
    anonymous: int | str
    user: int | str
    admin: int | str
    args: tuple[str, ...] = ()
    data: dict | None = None
    fragment: bool = False  # an htmx request that may act gets the updated fragment (200)


ROWS: dict[str, Row] = {
    # public pages
    "home": Row("get", 200, 200, 200),
    "healthz": Row("get", 200, 200, 200),
    "status": Row("get", 200, 200, 200),
    "login": Row("get", 200, 302, 302),
    "oidc_login_start": Row("get", 302, 302, 302, args=("idp",)),
    "oidc_callback": Row("get", 400, 400, 400),
    "logout": Row("post", 302, 302, 302),
    "campaigns:list": Row("get", 200, 200, 200),
    "campaigns:detail": Row("get", 200, 200, 200, args=("slug",)),
    "campaigns:who_can_read": Row("get", 200, 200, 200),
    "tokens:inspect": Row("post", 200, 200, 200, data={"token": "not-a-token"}),
    # the storage-token issuer: public discovery and keys; the token endpoint authenticates
    # each request itself (client credentials or a subject token), so no session is needed
    "issuer:openid_configuration": Row("get", 200, 200, 200),
    "issuer:oauth_authorization_server": Row("get", 200, 200, 200),
    "issuer:jwks": Row("get", 200, 200, 200),
    "issuer:token": Row("post", 400, 400, 400, data={"grant_type": "password"}),
    # registration: only right after a provider vouched for an unknown identity
    "register": Row("get", 302, 302, 302),
    "registration_waiting": Row("get", 302, 302, 302),
    # one's own things; someone else's are a 404, even for admins (admins use the admin site)
    "account": Row("get", LOGIN, 200, 200),
    "account-certificate": Row("post", LOGIN, 302, 302, data={"dn": "/CN=Nobody"}),
    "account-identity-remove": Row("post", LOGIN, 404, 404, args=("identity",)),
    "tokens:mine": Row("get", LOGIN, 200, 200),
    "tokens:storage_mine": Row("get", LOGIN, 200, 200),
    # anyone logged in may ask; the policy refuses in the answer (an outsider gets no token)
    "tokens:storage_request": Row("post", LOGIN, 200, 200, args=("slug",), data={}),
    "campaigns:mine": Row("get", LOGIN, 200, 200),
    "campaigns:new": Row("get", LOGIN, 200, 200),
    "campaigns:request": Row("post", LOGIN, 302, 302, args=("slug",)),
    "campaigns:withdraw": Row("post", LOGIN, 404, 404, args=("slug",)),
    "campaigns:leave": Row("post", LOGIN, 404, 404, args=("slug",)),
    # someone else's token: admins may look and revoke
    "tokens:detail": Row("get", LOGIN, 404, 200, args=("token",)),
    "tokens:delete": Row("post", LOGIN, 404, 302, args=("token",)),
    # admins only
    "tokens:all": Row("get", LOGIN, 403, 200),
    "campaigns:requests": Row("get", LOGIN, 403, 200),
    "campaigns:campaign_request_approve": Row("post", LOGIN, 403, 302, args=("campaign_request",)),
    "campaigns:campaign_request_reject": Row(
        "post", LOGIN, 403, 302, args=("campaign_request",), data={"reason": "Not ours."}
    ),
    "registrations": Row("get", LOGIN, 403, 200),
    "registration_approve": Row("post", LOGIN, 403, 302, args=("registration",), fragment=True),
    "registration_reject": Row("post", LOGIN, 403, 302, args=("registration",), fragment=True),
    "scim_sync_runs": Row("get", LOGIN, 403, 200),
    "scim_sync_run_now": Row("post", LOGIN, 403, 302, data={"idp": ""}),
    "rucio_sync_runs": Row("get", LOGIN, 403, 200),
    "rucio_sync_run_now": Row("post", LOGIN, 403, 302),
    "rucio_account": Row("get", LOGIN, 403, 200, args=("account_name",)),
    "rucio_account_sync": Row("post", LOGIN, 403, 302, args=("account_name",)),
    # the campaign's PI, managers and admins
    "campaigns:manage": Row("get", LOGIN, 403, 200, args=("slug",)),
    "campaigns:settings": Row(
        "post", LOGIN, 403, 302, args=("slug",), data={"embargo_until": "", "data_paths": ""}
    ),
    "campaigns:member_add": Row(
        "post", LOGIN, 403, 302, args=("slug",), data={"account_name": "nobody"}, fragment=True
    ),
    "campaigns:member_remove": Row(
        "post", LOGIN, 403, 302, args=("slug", "membership"), fragment=True
    ),
    "campaigns:member_valid_until": Row(
        "post", LOGIN, 403, 302, args=("slug", "membership"), fragment=True
    ),
    "campaigns:approve": Row("post", LOGIN, 403, 302, args=("slug", "request"), fragment=True),
    "campaigns:reject": Row("post", LOGIN, 403, 302, args=("slug", "request"), fragment=True),
    # the PI only
    "campaigns:manager_appoint": Row("post", LOGIN, 403, 403, args=("slug", "membership")),
    "campaigns:manager_remove": Row("post", LOGIN, 403, 403, args=("slug", "manager")),
    # storage nodes: a node token, never a session
    "exports:file": Row("get", 401, 401, 401, args=("format",)),
}


def site_urls(patterns=None, namespace=""):
    """(name, pattern) of every named URL outside the Django admin."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from site_urls(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", str(entry.pattern)


def test_every_url_has_a_row():
    urls = dict(site_urls())
    assert "" not in urls and None not in urls, "every URL needs a name"
    missing = sorted(set(urls) - set(ROWS))
    assert not missing, f"URLs without a row saying who may use them: {missing}"


@pytest.fixture
def world(request, admin, pi, manager, member, requester, outsider):
    campaign = campaign_services.campaign_create(
        slug="nightsky", title="Night Sky", pi=pi, actor=admin, data_paths=["/data/nightsky"]
    )
    for account in (manager, member):
        asked = campaign_services.membership_request(campaign=campaign, account=account)
        campaign_services.membership_approve(membership=asked, actor=pi)
    campaign_services.manager_appoint(campaign=campaign, account=manager, actor=pi)
    waiting = campaign_services.membership_request(campaign=campaign, account=requester)
    campaign_request = campaign_services.campaign_request_create(
        requester=requester, slug="deepfield", title="Deep field", reason="A new survey."
    )
    token = Token.objects.create(
        account=member,
        token="eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        token_hash=token_hash("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        expires_at=timezone.now() + datetime.timedelta(hours=1),
    )
    identity = identity_add(
        account=member, type=Identity.Type.X509, identity="/C=DE/CN=Member", actor=None
    )
    if "oidc_login_start" in request.node.name or "logout" in request.node.name:
        request.getfixturevalue("rogue_idp")  # a provider to start a login with
    registration = registration_create(
        idp="rogue", identity="SUB=w-1, ISS=http://x", requested_name="wanda", email="w@e.org"
    )

    def membership_of(account) -> int:
        return Membership.objects.get(account=account, state="approved").pk

    return {
        "slug": campaign.slug,
        "account_name": member.name,
        "idp": "rogue",
        "format": "group",
        "token": token.pk,
        "identity": identity.pk,
        "registration": registration.pk,
        "request": waiting.pk,
        "campaign_request": campaign_request.pk,
        "membership": membership_of(member),
        "manager": membership_of(manager),
        "people": {"user": outsider, "admin": admin},
    }


def url_for(name: str, row: Row, world: dict) -> str:
    return reverse(name, args=[world[arg] for arg in row.args])


def client_as(who: str, world: dict, **kwargs) -> Client:
    client = Client(**kwargs)
    if who != "anonymous":
        client.force_login(world["people"][who])
    return client


def require_present(name: str) -> None:
    """A row for a URL the site does not have is a stale row: fail, naming it."""
    assert name in dict(site_urls()), (
        f"ROWS has {name!r}, which is not a URL of this site: remove the row, or restore the URL."
    )


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
@pytest.mark.parametrize("name", sorted(ROWS))
def test_who_may_use_each_url(name, who, htmx, world):
    require_present(name)
    row = ROWS[name]
    url = url_for(name, row, world)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = getattr(client_as(who, world), row.method)(url, row.data or {}, **headers)
    expected = getattr(row, who)
    if htmx and row.fragment and expected == 302:
        expected = 200
    if expected == LOGIN:
        assert response.status_code == 302, (name, who, response.status_code)
        assert response["Location"].startswith(reverse("login") + "?next=")
    else:
        assert response.status_code == expected, (name, who, response.status_code)
    if name == "tokens:delete" and who == "user":
        assert Token.objects.filter(pk=world["token"]).exists()
    if name.startswith("registration_") and who != "admin":
        assert Registration.objects.get().state == "pending"
    if name.startswith("campaigns:campaign_request_") and who != "admin":
        assert CampaignRequest.objects.get().state == "pending"


WRITES = sorted(name for name, row in ROWS.items() if row.method == "post")
# GET shows the form or the confirmation; it changes nothing.
GET_SHOWS_A_FORM = {
    "tokens:inspect",
    "account-certificate",
    "account-identity-remove",
    "campaigns:leave",
}


@pytest.mark.parametrize("name", [name for name in WRITES if name not in GET_SHOWS_A_FORM])
def test_writes_refuse_get(name, world):
    require_present(name)
    response = client_as("admin", world).get(url_for(name, ROWS[name], world))
    assert response.status_code == 405


# Machine endpoints that authenticate every request themselves and ignore the session cookie.
CSRF_EXEMPT = {"issuer:token"}


@pytest.mark.parametrize("name", WRITES)
def test_writes_need_the_csrf_token(name, world):
    require_present(name)
    row = ROWS[name]
    client = client_as("admin", world, enforce_csrf_checks=True)
    response = client.post(url_for(name, row, world), row.data or {}, HTTP_HX_REQUEST="true")
    if name in CSRF_EXEMPT:  # an admin's session cookie alone gets no token
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"
        return
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_admin_site_is_for_staff_only(world):
    """Every model page of the admin sends anonymous visitors and ordinary users to its login."""
    urls = [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in django_admin.site._registry
    ]
    assert len(urls) >= 8
    for who in ("anonymous", "user"):
        client = client_as(who, world)
        for url in [reverse("admin:index"), *urls]:
            response = client.get(url)
            assert response.status_code == 302, (who, url)
            assert response["Location"].startswith(reverse("admin:login"))
    staff = client_as("admin", world)
    assert all(staff.get(url).status_code == 200 for url in urls)
