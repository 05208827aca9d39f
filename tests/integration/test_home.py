import re

import pytest
from django.urls import reverse

from accounts.services import registration_create
from campaigns import services as campaign_services


@pytest.mark.django_db
def test_anonymous_visitor_learns_what_this_is_and_how_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "One gate to your data centre" in html
    assert f'href="{reverse("login")}"' in html
    assert "Welcome back" not in html


@pytest.mark.django_db
def test_logged_in_user_sees_their_account_campaigns_and_tokens(client, member):
    client.force_login(member)
    html = client.get(reverse("home")).content.decode()
    assert "Welcome back" in html
    assert f"UID {member.uid}" in html
    assert "Your campaigns" in html and "Your tokens" in html


@pytest.mark.django_db
def test_a_first_login_is_welcomed_not_welcomed_back(client, member):
    client.force_login(member)
    session = client.session
    session["first_login"] = True  # what the OIDC callback sets when last_login was empty
    session.save()
    assert "Welcome, Member" in client.get(reverse("home")).content.decode()
    assert "Welcome back, Member" in client.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_home_links_campaigns_says_pi_and_shows_waiting_requests(client, admin, pi, requester):
    campaign = campaign_services.campaign_create(
        slug="nightsky", title="Night Sky", pi=pi, actor=admin, data_paths=["/data/nightsky"]
    )
    campaign_services.membership_request(campaign=campaign, account=requester)
    client.force_login(pi)
    html = client.get(reverse("home")).content.decode()
    mine = html[html.index('id="your-campaigns"') :]
    assert 'href="/campaigns/nightsky/"' in mine
    assert '<span class="badge badge-info">PI</span>' in mine
    assert "badge-approved" not in mine
    waiting = html[html.index('id="waiting"') : html.index('id="your-campaigns"')]
    assert 'href="/campaigns/nightsky/manage/"' in waiting
    assert "1 request waiting for a decision" in waiting
    client.force_login(requester)
    html = client.get(reverse("home")).content.decode()
    assert 'id="waiting"' not in html and "badge-requested" in html


@pytest.mark.django_db
def test_a_person_whose_registration_waits_sees_it_on_the_home_page(client):
    registration = registration_create(
        idp="dev", identity="SUB=w-1, ISS=http://x", requested_name="wanda", email="w@e.org"
    )
    session = client.session
    session["registration_id"] = registration.pk  # set when the login found no account
    session.save()
    html = client.get(reverse("home")).content.decode()
    assert "Your registration is waiting for approval since" in html
    assert f"{registration.created:%Y-%m-%d}" in html and "wanda" in html


@pytest.mark.django_db
def test_every_script_carries_the_csp_nonce_and_the_policy_allows_no_inline_script(client):
    response = client.get(reverse("home"))
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    scripts = re.findall(r"<script[^>]*>", response.content.decode())
    assert scripts, "htmx should be on the page"
    assert all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_htmx_requests_carry_the_csrf_token(client):
    html = client.get(reverse("home")).content.decode()
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'>", html)


def test_secrets_can_come_from_a_file(tmp_path, monkeypatch):
    from webui.settings import envsecret

    path = tmp_path / "secret"
    path.write_text("from-file\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(path))
    monkeypatch.setenv("SOME_SECRET", "from-env")
    assert envsecret("SOME_SECRET") == "from-file"


@pytest.mark.django_db
def test_admins_are_mailed_and_see_the_count_of_waiting_registrations(
    client, admin, member, django_capture_on_commit_callbacks
):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        registration_create(
            idp="dev", identity="SUB=w-1, ISS=http://x", requested_name="wanda", email="w@e.org"
        )
    (message,) = mail.outbox
    assert message.to == ["admin@example.org"]
    assert "wanda registered and waits for approval" in message.subject
    assert "/registrations/" in message.body
    client.force_login(admin)
    html = client.get(reverse("home")).content.decode()
    assert 'aria-label="Registrations, 1 waiting"' in html
    assert '<span class="nav-count">1</span>' in html
    client.force_login(member)
    assert "nav-count" not in client.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_every_page_links_the_stylesheet_and_icon_as_static_gives_them(client, settings):
    from django.templatetags.static import static

    html = client.get(reverse("home")).content.decode()
    assert f'<link rel="stylesheet" href="{static("css/site.css")}">' in html
    assert html.count(f'"{static("img/gatehouse.svg")}"') == 2  # the tab's icon and the brand's
    settings.STATIC_URL = "/elsewhere/"  # the URLs are kept per process, but per setting too
    html = client.get(reverse("home")).content.decode()
    assert '<link rel="stylesheet" href="/elsewhere/css/site.css">' in html
    assert html.count('"/elsewhere/img/gatehouse.svg"') == 2
