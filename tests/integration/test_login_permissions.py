"""Who may use each login and registration view, and who may not (anonymous, user, admin)."""

import time

import pytest
from django.contrib.auth import SESSION_KEY

from accounts.models import Account, Registration
from accounts.oidc.views import PENDING_LOGIN
from accounts.services import registration_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(db) -> Registration:
    return registration_create(
        idp="rogue", identity="SUB=w-1, ISS=http://x", requested_name="wanda", email="w@e.org"
    )


def as_user(client, account):
    client.force_login(account)
    return client


# ---- Login page, login start, callback, logout ------------------------------------------------


def test_login_page(client, member, rogue_idp):
    assert client.get("/login/").status_code == 200
    assert as_user(client, member).get("/login/")["Location"] == "/"


def test_login_start_is_open_to_everyone(client, member, rogue_idp):
    assert client.get("/login/rogue/").status_code == 302
    assert as_user(client, member).get("/login/rogue/").status_code == 302
    assert client.post("/login/rogue/").status_code == 405


def test_callback_without_a_started_login(client, member, rogue_idp):
    assert client.get("/oidc/callback/").status_code == 400
    assert client.post("/oidc/callback/").status_code == 405
    response = as_user(client, member).get("/oidc/callback/", {"state": "x", "code": "y"})
    # Refused, and the session it did not start stays (issue 11: logout CSRF).
    assert response.status_code == 400 and SESSION_KEY in client.session


def test_logout_is_post_only_with_csrf(member):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert strict.get("/logout/").status_code == 405
    assert strict.post("/logout/").status_code == 403  # no CSRF token
    assert SESSION_KEY in strict.session


def test_logout_anonymous_and_user(client, member):
    assert client.post("/logout/")["Location"] == "/"
    response = as_user(client, member).post("/logout/")
    assert response["Location"] == "/" and SESSION_KEY not in client.session


# ---- Registration form and waiting page -------------------------------------------------------


def _pending(client):
    session = client.session
    session[PENDING_LOGIN] = {
        "provider": "rogue",
        "issuer": "http://x",
        "sub": "s-1",
        "claims": {"preferred_username": "sam"},
        "at": time.time(),
    }
    session.save()


def test_register_needs_a_login_the_provider_vouched_for(client, member, rogue_idp):
    response = client.get("/register/")
    assert response["Location"] == "/login/"
    assert client.post("/register/", {"requested_name": "x", "email": "x@e.org"}).status_code == 302
    assert not Registration.objects.exists()
    _pending(client)
    assert client.get("/register/").status_code == 200
    assert as_user(client, member).get("/register/")["Location"] == "/"


def test_a_stale_pending_login_cannot_register(client, rogue_idp):
    _pending(client)
    session = client.session
    session[PENDING_LOGIN]["at"] = time.time() - 3600
    session.save()
    assert client.get("/register/")["Location"] == "/login/"


def test_registration_waiting_shows_only_this_browsers_registration(client, waiting):
    assert client.get("/register/waiting/")["Location"] == "/login/"
    session = client.session
    session["registration_id"] = waiting.pk
    session.save()
    assert "wanda" in client.get("/register/waiting/").content.decode()


# ---- The admins' approval page ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/registrations/", "/registrations/{pk}/approve/", "/registrations/{pk}/reject/"]
)
def test_anonymous_is_sent_to_log_in(client, waiting, path):
    url = path.format(pk=waiting.pk)
    response = client.post(url) if "/approve/" in url or "/reject/" in url else client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "path", ["/registrations/", "/registrations/{pk}/approve/", "/registrations/{pk}/reject/"]
)
def test_a_plain_user_may_not(client, member, waiting, path):
    url = path.format(pk=waiting.pk)
    as_user(client, member)
    data = {"name": "wanda", "reason": "no"}
    response = client.post(url, data) if url != "/registrations/" else client.get(url)
    assert response.status_code == 403
    assert Registration.objects.get().state == "pending"


def test_admin_sees_the_list(client, admin, waiting):
    page = as_user(client, admin).get("/registrations/")
    assert page.status_code == 200 and "wanda" in page.content.decode()
    assert client.post("/registrations/").status_code == 405


def test_admin_approves(client, admin, waiting):
    response = as_user(client, admin).post(
        f"/registrations/{waiting.pk}/approve/", {"name": "wanda"}
    )
    assert response["Location"] == "/registrations/"
    assert Account.objects.get(name="wanda").identities.get().identity == waiting.identity
    assert client.get(f"/registrations/{waiting.pk}/approve/").status_code == 405


def test_admin_approves_under_another_name_with_htmx(client, admin, waiting):
    response = as_user(client, admin).post(
        f"/registrations/{waiting.pk}/approve/", {"name": "Wanda2"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "approved" in response.content.decode() and "<tr" in response.content.decode()
    assert Account.objects.filter(name="wanda2").exists()


def test_admin_approval_of_a_taken_name_is_refused(client, admin, waiting, member):
    as_user(client, admin).post(f"/registrations/{waiting.pk}/approve/", {"name": "member"})
    assert Registration.objects.get().state == "pending"
    messages = [str(m) for m in client.get("/registrations/").context["messages"]]
    assert any("exists already" in m for m in messages)


def test_admin_rejects_only_with_a_reason(client, admin, waiting):
    as_user(client, admin)
    client.post(f"/registrations/{waiting.pk}/reject/", {"reason": ""})
    assert Registration.objects.get().state == "pending"
    client.post(f"/registrations/{waiting.pk}/reject/", {"reason": "Not a member."})
    assert Registration.objects.get().state == "rejected"
    again = client.post(f"/registrations/{waiting.pk}/approve/", {"name": "wanda"})
    assert again.status_code == 302 and not Account.objects.filter(name="wanda").exists()


def test_unknown_registration_is_404_for_admins(client, admin):
    assert as_user(client, admin).post("/registrations/999/approve/").status_code == 404
