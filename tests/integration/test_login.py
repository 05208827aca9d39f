"""Login's rules: state, `next`, rate limit, unknown-user policies, names, session refresh.

Logins here go to tests/harness/rogue_idp.py (a loopback provider the test controls, answering
with good tokens unless told otherwise); the real-provider flows are in tests/integration.
"""

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail

from accounts.forms import RegistrationForm
from accounts.identities import oidc_identity
from accounts.models import Account, AuditEvent, Registration
from accounts.selectors import account_name_suggestion
from accounts.services import registration_create, registration_reject
from tests.harness.idpsecrets import use_idpsecrets

pytestmark = pytest.mark.django_db


def start(client, rogue, **params) -> dict:
    response = client.get("/login/rogue/", params)
    assert response.status_code == 302
    return rogue.authorize(response["Location"])


def set_policy(settings, tmp_path, rogue, policy: str) -> None:
    entries = {"rogue": rogue.idpsecrets_entry(unknown_users=policy)}
    use_idpsecrets(settings, tmp_path / f"idpsecrets-{policy}.json", entries)


# ---- The authorization request ----------------------------------------------------------------


def test_login_start_asks_for_code_with_pkce_state_nonce_and_offline_access(client, rogue_idp):
    response = client.get("/login/rogue/")
    location = response["Location"]
    assert location.startswith(f"{rogue_idp.issuer}/authorize?")
    query = rogue_idp.authorize(location)
    states = client.session["oidc_states"]
    entry = states[query["state"]]
    assert entry["provider"] == "rogue" and entry["nonce"] == rogue_idp.nonce
    assert rogue_idp.code_challenge and entry["code_verifier"]
    assert "code_challenge_method=S256" in location and "response_type=code" in location
    assert "scope=openid+profile+email+offline_access" in location
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Foidc%2Fcallback%2F" in location


def test_unknown_provider_is_404(client, rogue_idp):
    assert client.get("/login/nobody/").status_code == 404


def test_state_is_single_use(client, rogue_member, rogue_idp):
    query = start(client, rogue_idp)
    assert client.get("/oidc/callback/", query).status_code == 302
    again = client.get("/oidc/callback/", query)
    assert again.status_code == 400 and "already used" in again.content.decode()


def test_state_expires(client, rogue_member, rogue_idp, settings):
    query = start(client, rogue_idp)
    session = client.session
    session["oidc_states"][query["state"]]["added_on"] = time.time() - 601
    session.save()
    response = client.get("/oidc/callback/", query)
    assert response.status_code == 400
    assert "took too long to finish (more than 10 minutes)" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert not rogue_idp.token_requests
    assert "oidc_states" not in client.session or not client.session["oidc_states"]


def test_parallel_logins_in_two_tabs_both_work(client, rogue_member, rogue_idp):
    first = start(client, rogue_idp)
    second = start(client, rogue_idp)
    assert client.get("/oidc/callback/", second).status_code == 302
    assert client.get("/oidc/callback/", first).status_code == 302


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/campaigns/?mine=1", "/campaigns/?mine=1"),
        ("https://evil.example.org/", "/"),
        ("//evil.example.org/path", "/"),
        ("http://testserver.evil.example.org/", "/"),
        ("javascript:alert(1)", "/"),
        ("\\\\evil.example.org", "/"),
    ],
)
def test_next_only_leads_to_this_site(client, rogue_member, rogue_idp, next_url, lands_on):
    response = client.get("/oidc/callback/", start(client, rogue_idp, next=next_url))
    assert response.status_code == 302 and response["Location"] == lands_on


def test_login_starts_are_rate_limited_per_client(client, rogue_idp, settings):
    settings.GATEHOUSE_LOGIN_RATE = 3
    for _ in range(3):
        assert client.get("/login/rogue/").status_code == 302
    limited = client.get("/login/rogue/")
    assert limited.status_code == 429
    assert "Too many logins were started from your address" in limited.content.decode()
    other_address = client.get("/login/rogue/", REMOTE_ADDR="192.0.2.7")
    assert other_address.status_code == 302


def test_forwarded_for_counts_only_behind_a_trusted_proxy(client, rogue_idp, settings):
    settings.GATEHOUSE_LOGIN_RATE = 1
    assert client.get("/login/rogue/", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 302
    spoofed = client.get("/login/rogue/", HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert spoofed.status_code == 429  # REMOTE_ADDR is not a trusted proxy: the header is ignored
    settings.GATEHOUSE_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/login/rogue/", HTTP_X_FORWARDED_FOR="192.0.2.3").status_code == 302


# ---- Unknown identities: register, auto, deny -------------------------------------------------


def test_policy_register_sends_the_person_to_the_form(client, rogue_idp):
    response = client.get("/oidc/callback/", start(client, rogue_idp))
    assert response["Location"] == "/register/"
    assert SESSION_KEY not in client.session
    form = client.get("/register/").context["form"]
    assert form.initial["requested_name"] == "rosa_rogue"
    assert not Account.objects.filter(name="rosa_rogue").exists()


def test_policy_auto_creates_the_account_at_once(client, rogue_idp, settings, tmp_path):
    set_policy(settings, tmp_path, rogue_idp, "auto")
    response = client.get("/oidc/callback/", start(client, rogue_idp))
    assert response.status_code == 302 and response["Location"] == "/"
    account = Account.objects.get(name="rosa_rogue")
    assert client.session[SESSION_KEY] == str(account.pk)
    assert account.uid and account.email == "rosa@example.org"
    identity = account.identities.get()
    assert identity.identity == oidc_identity(issuer=rogue_idp.issuer, sub=rogue_idp.sub)
    assert identity.source == "login" and identity.idp == "rogue"


def test_policy_auto_never_takes_over_by_email(client, rogue_idp, settings, tmp_path, member):
    """An account with the same email is not linked: a provider's email proves nothing here."""
    Account.objects.filter(pk=member.pk).update(email="rosa@example.org")
    set_policy(settings, tmp_path, rogue_idp, "auto")
    client.get("/oidc/callback/", start(client, rogue_idp))
    assert client.session[SESSION_KEY] != str(member.pk)
    assert not member.identities.exists()


def test_policy_deny_refuses_clearly(client, rogue_idp, settings, tmp_path):
    set_policy(settings, tmp_path, rogue_idp, "deny")
    response = client.get("/oidc/callback/", start(client, rogue_idp))
    assert response.status_code == 403
    assert "has no account here" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert not Account.objects.exists()
    assert AuditEvent.objects.get(action="login.refused").detail["reason"] == (
        "unknown_identity_denied"
    )


def test_deleted_account_cannot_log_in(client, rogue_member, rogue_idp):
    Account.objects.filter(pk=rogue_member.pk).update(status=Account.Status.DELETED)
    response = client.get("/oidc/callback/", start(client, rogue_idp))
    assert response.status_code == 403
    assert "is deleted" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_suspension_ends_existing_sessions(client, rogue_member, rogue_idp):
    client.get("/oidc/callback/", start(client, rogue_idp))
    assert client.get("/").context["user"] == rogue_member
    Account.objects.filter(pk=rogue_member.pk).update(status=Account.Status.SUSPENDED)
    assert not client.get("/").context["user"].is_authenticated


# ---- Registration names and decisions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"preferred_username": "Rosa.Rogue"}, "rosa_rogue"),
        ({"preferred_username": "José Müller"}, "jose_muller"),
        ({"preferred_username": "-x-"}, "x"),
        ({"preferred_username": "a" * 40}, "a" * 25),
        ({"email": "kim.lee@example.org"}, "kim_lee"),
        ({"preferred_username": "日本"}, "user1"),
        ({}, "user1"),
    ],
)
def test_account_name_suggestion(db, claims, name):
    assert account_name_suggestion(claims=claims) == name


def test_account_name_suggestion_avoids_taken_names(member):
    assert account_name_suggestion(claims={"preferred_username": "Member"}) == "member2"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Alice", None),
        ("al ice", "Rucio's account name rule"),
        ("a" * 26, "at most 25 characters"),
        ("", "This field is required"),
        ("member", "is taken"),
        ("waiting", "is taken"),
    ],
)
def test_registration_name_validation(member, name, error):
    registration_create(idp="x", identity="SUB=w, ISS=x", requested_name="waiting", email="w@e.org")
    form = RegistrationForm({"requested_name": name, "email": "a@example.org"})
    if error is None:
        assert form.is_valid() and form.cleaned_data["requested_name"] == name.lower()
    else:
        assert not form.is_valid()
        assert error in " ".join(form.errors["requested_name"])


def test_reject_needs_a_reason_and_emails_the_person(admin, django_capture_on_commit_callbacks):
    registration = registration_create(
        idp="x", identity="SUB=r, ISS=x", requested_name="rosa", email="rosa@example.org"
    )
    with pytest.raises(Exception, match="Say why"):
        registration_reject(registration=registration, actor=admin, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        registration_reject(registration=registration, actor=admin, reason="Unknown institute.")
    assert Registration.objects.get().state == "rejected"
    assert mail.outbox[0].to == ["rosa@example.org"]
    assert "Unknown institute." in mail.outbox[0].body
    assert "Unknown institute." in mail.outbox[0].alternatives[0].content
    assert AuditEvent.objects.filter(action="registration.reject", actor=admin).exists()


def test_a_rejected_person_may_ask_again(client, rogue_idp, admin):
    client.get("/oidc/callback/", start(client, rogue_idp))
    client.post("/register/", {"requested_name": "rosa", "email": "rosa@example.org"})
    registration_reject(registration=Registration.objects.get(), actor=admin, reason="Typo.")
    client.get("/oidc/callback/", start(client, rogue_idp))
    page = client.get("/register/").content.decode()
    assert "was not approved: Typo." in page
    client.post("/register/", {"requested_name": "rosa", "email": "rosa@example.org"})
    assert Registration.objects.filter(state="pending").count() == 1


# ---- The login page and session refresh --------------------------------------------------------


def test_login_page_shows_an_unavailable_provider_and_keeps_the_others(
    client, rogue_idp, settings, tmp_path
):
    entries = {
        "rogue": rogue_idp.idpsecrets_entry(display_name="Rogue IdP"),
        "down": {
            "issuer": "http://127.0.0.1:9/",
            "client_id": "x",
            "client_secret": "y",
            "display_name": "Down SSO",
        },
    }
    use_idpsecrets(settings, tmp_path / "two.json", entries)
    page = client.get("/login/", {"next": "/campaigns/"}).content.decode()
    assert "<strong>Down SSO</strong> is unavailable right now" in page
    assert 'href="/login/rogue/?next=%2Fcampaigns%2F"' in page
    assert client.get("/login/down/").status_code == 503


def test_session_refresh_answers_htmx_with_hx_redirect(client, rogue_member, rogue_idp):
    client.get("/oidc/callback/", start(client, rogue_idp))
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    htmx = client.get(
        "/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/campaigns/"
    )
    assert htmx.status_code == 200
    target = htmx["HX-Redirect"]
    assert target.startswith(f"{rogue_idp.issuer}/authorize?") and "prompt=none" in target
    entry = client.session["oidc_states"][rogue_idp.authorize(target)["state"]]
    assert entry["silent"] is True and entry["next"] == "http://testserver/campaigns/"

    plain = client.get("/")
    assert plain.status_code == 302 and plain["Location"].startswith(rogue_idp.issuer)


def test_a_silent_refresh_keeps_the_session(client, rogue_member, rogue_idp):
    client.get("/oidc/callback/", start(client, rogue_idp))
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    key = client.session.session_key
    query = rogue_idp.authorize(client.get("/campaigns/")["Location"])
    response = client.get("/oidc/callback/", query)
    assert response["Location"] == "/campaigns/"
    assert client.session.session_key == key  # same session, same CSRF token
    assert AuditEvent.objects.filter(action="login.renew", account=rogue_member).exists()


def test_a_failed_silent_refresh_asks_to_log_in_again(client, rogue_member, rogue_idp):
    client.get("/oidc/callback/", start(client, rogue_idp))
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    query = rogue_idp.authorize(client.get("/campaigns/")["Location"])
    response = client.get("/oidc/callback/", {"state": query["state"], "error": "login_required"})
    assert SESSION_KEY not in client.session
    assert response["Location"] == "/login/rogue/?next=%2Fcampaigns%2F"


def test_login_and_scim_derive_the_same_name(db):
    """jane.doe used to be jane_doe at login and jane-doe from SCIM; one rule now."""
    from accounts.names import account_name_derive

    at_login = account_name_suggestion(claims={"preferred_username": "jane.doe"})
    assert at_login == account_name_derive("jane.doe", taken=set().__contains__) == "jane_doe"
