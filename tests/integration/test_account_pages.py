"""My account, identity removal and certificate linking: who may use them, and the proxy rules."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Identity
from accounts.services import account_suspend, identity_add

IAM = "http://127.0.0.1:9400/"  # the dev provider in devidp/idpsecrets.dev.json ("Dev IAM")
JANE_DN = "/C=DE/O=GermanGrid/CN=Jane Doe"
JANE_RFC2253 = "CN=Jane Doe,O=GermanGrid,C=DE"
PROXY = "10.1.2.3"


@pytest.fixture
def cert_proxy(settings):
    settings.GATEHOUSE_CERT_PROXIES = [PROXY, "192.0.2.0/28"]
    settings.GATEHOUSE_CERT_DN_HEADER = "X-SSL-Client-S-DN"
    settings.GATEHOUSE_CERT_VERIFY_HEADER = "X-SSL-Client-Verify"
    settings.GATEHOUSE_CERT_LOGIN_URL = "https://cert.gatehouse.example.org"


def via_proxy(dn=JANE_RFC2253, verify="SUCCESS", remote=PROXY) -> dict:
    headers = {"REMOTE_ADDR": remote}
    if verify is not None:
        headers["HTTP_X_SSL_CLIENT_VERIFY"] = verify
    if dn is not None:
        headers["HTTP_X_SSL_CLIENT_S_DN"] = dn
    return headers


@pytest.fixture
def member_login(member):
    return identity_add(
        account=member, type="OIDC", identity=f"SUB=m-1, ISS={IAM}", source="login", actor=None
    )


ACCOUNT_URLS = [
    ("get", "account"),
    ("get", "account-certificate"),
    ("post", "account-certificate"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name"), ACCOUNT_URLS)
def test_anonymous_visitors_are_sent_to_log_in(client, method, name):
    url = reverse(name)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_cannot_reach_identity_removal(client, member_login, method):
    url = reverse("account-identity-remove", args=[member_login.pk])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Identity.objects.filter(pk=member_login.pk).exists()


@pytest.mark.django_db
def test_suspended_accounts_lose_their_session(client, member):
    client.force_login(member)
    account_suspend(account=member, reason="audit", actor=None)
    response = client.get(reverse("account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_my_account_shows_my_facts_and_identities(client, member, member_login, outsider):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    identity_add(
        account=outsider, type="X509", identity="/C=DE/O=GermanGrid/CN=Someone Else", actor=None
    )
    client.force_login(member)
    response = client.get(reverse("account"))
    assert response.status_code == 200
    html = response.content.decode()
    for fact in ["member", "member@example.org", str(member.uid), "User", "Active"]:
        assert fact in html
    assert "m-1" in html and "Dev IAM" in html  # the OIDC subject and its provider's label
    assert JANE_DN in html
    assert "Login" in html and "Manual" in html  # where each came from
    assert "Someone Else" not in html
    assert reverse("account-identity-remove", args=[member_login.pk]) not in html  # the last login
    cert = Identity.objects.get(identity=JANE_DN)
    assert reverse("account-identity-remove", args=[cert.pk]) in html


@pytest.mark.django_db
def test_admins_see_their_own_account_page_too(client, admin, member, member_login):
    client.force_login(admin)
    html = client.get(reverse("account")).content.decode()
    assert "<code>admin</code>" in html
    assert "m-1" not in html


@pytest.mark.django_db
def test_remove_asks_first_then_removes_on_post(client, member, member_login):
    cert = identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    client.force_login(member)
    url = reverse("account-identity-remove", args=[cert.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert "Remove this certificate?" in page.content.decode()
    assert Identity.objects.filter(pk=cert.pk).exists()

    response = client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("account"), 302)]
    assert "no longer linked to your account" in response.content.decode()
    assert not Identity.objects.filter(pk=cert.pk).exists()
    event = AuditEvent.objects.get(action="identity.remove")
    assert (event.actor, event.account) == (member, member)


@pytest.mark.django_db
def test_remove_refuses_the_last_login_identity(client, member, member_login):
    client.force_login(member)
    url = reverse("account-identity-remove", args=[member_login.pk])
    assert "cannot be removed" in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert "only identity you can log in with" in response.content.decode()
    assert Identity.objects.filter(pk=member_login.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_nobody_removes_someone_elses_identity(
    client, member, member_login, outsider, admin, method
):
    url = reverse("account-identity-remove", args=[member_login.pk])
    for other in (outsider, admin):
        client.force_login(other)
        assert getattr(client, method)(url).status_code == 404
    assert Identity.objects.filter(pk=member_login.pk).exists()


@pytest.mark.django_db
def test_remove_needs_csrf(member, member_login):
    from django.test import Client

    cert = identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    response = strict.post(reverse("account-identity-remove", args=[cert.pk]))
    assert response.status_code == 403
    assert Identity.objects.filter(pk=cert.pk).exists()


@pytest.mark.django_db
def test_certificate_from_the_trusted_proxy_is_shown_in_both_forms(client, member, cert_proxy):
    client.force_login(member)
    html = client.get(reverse("account-certificate"), **via_proxy()).content.decode()
    assert JANE_DN in html
    assert JANE_RFC2253 in html
    assert "Link this certificate" in html


@pytest.mark.django_db
def test_linking_takes_the_dn_from_the_headers_on_post(client, member, cert_proxy):
    client.force_login(member)
    response = client.post(
        reverse("account-certificate"), {"dn": JANE_DN}, follow=True, **via_proxy()
    )
    assert response.redirect_chain == [(reverse("account"), 302)]
    assert "is now linked to your account" in response.content.decode()
    linked = Identity.objects.get(type="X509")
    assert (linked.account, linked.identity, linked.source) == (member, JANE_DN, "manual")
    event = AuditEvent.objects.get(action="identity.add")
    assert (event.actor, event.ip) == (member, PROXY)


@pytest.mark.django_db
def test_a_dn_posted_without_a_verified_certificate_is_not_linked(client, member, cert_proxy):
    client.force_login(member)
    response = client.post(reverse("account-certificate"), {"dn": JANE_DN}, follow=True)
    assert "No verified certificate came with this request" in response.content.decode()
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_a_changed_certificate_must_be_confirmed_again(client, member, cert_proxy):
    client.force_login(member)
    response = client.post(
        reverse("account-certificate"),
        {"dn": "/C=DE/O=GermanGrid/CN=Old Certificate"},
        follow=True,
        **via_proxy(),
    )
    assert "presented a different certificate" in response.content.decode()
    assert not Identity.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        via_proxy(remote="203.0.113.9"),  # straight from a client, not the proxy
        via_proxy(remote="192.0.2.99"),  # outside the trusted network
        via_proxy(verify="FAILED:certificate has expired"),
        via_proxy(verify="NONE"),
        via_proxy(verify="GENEROUS"),
        via_proxy(verify=None),
        via_proxy(verify="success"),
        via_proxy(dn=None),
    ],
)
def test_headers_count_only_from_a_trusted_proxy_that_verified(client, member, cert_proxy, headers):
    client.force_login(member)
    page = client.get(reverse("account-certificate"), **headers)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Link this certificate" not in html
    assert JANE_DN not in html
    client.post(reverse("account-certificate"), {"dn": JANE_DN}, **headers)
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_a_proxy_inside_a_trusted_network_counts(client, member, cert_proxy):
    client.force_login(member)
    html = client.get(reverse("account-certificate"), **via_proxy(remote="192.0.2.5")).content
    assert JANE_DN in html.decode()


@pytest.mark.django_db
def test_the_page_explains_how_to_present_a_certificate(client, member, cert_proxy):
    client.force_login(member)
    html = client.get(reverse("account-certificate"), REMOTE_ADDR="203.0.113.9").content.decode()
    assert "No certificate came with this page" in html
    assert "https://cert.gatehouse.example.org/account/certificate/" in html
    assert "grid certificate" in html


@pytest.mark.django_db
def test_a_failed_verification_says_why(client, member, cert_proxy):
    client.force_login(member)
    html = client.get(
        reverse("account-certificate"), **via_proxy(verify="FAILED:certificate has expired")
    ).content.decode()
    assert "could not be verified (certificate has expired)" in html


@pytest.mark.django_db
def test_nginx_hex_escaped_utf8_dn_is_read(client, member, cert_proxy):
    client.force_login(member)
    headers = via_proxy(dn=r"CN=Jos\C3\A9 M\C3\BCller,O=GermanGrid,C=DE")
    html = client.get(reverse("account-certificate"), **headers).content.decode()
    assert "/C=DE/O=GermanGrid/CN=José Müller" in html


@pytest.mark.django_db
def test_raw_utf8_header_bytes_are_read_as_utf8(client, member, cert_proxy):
    client.force_login(member)
    # WSGI hands header bytes to Django as Latin-1 text; this is what raw UTF-8 looks like then.
    raw = "CN=José,O=GermanGrid,C=DE".encode().decode("latin-1")
    html = client.get(reverse("account-certificate"), **via_proxy(dn=raw)).content.decode()
    assert "/C=DE/O=GermanGrid/CN=José" in html


@pytest.mark.django_db
def test_an_unreadable_dn_is_reported_not_linked(client, member, cert_proxy):
    client.force_login(member)
    html = client.get(reverse("account-certificate"), **via_proxy(dn="garbage")).content.decode()
    assert "could not be read" in html
    assert "Link this certificate" not in html


@pytest.mark.django_db
def test_a_dn_linked_to_another_account_is_refused(client, member, outsider, cert_proxy):
    identity_add(account=outsider, type="X509", identity=JANE_DN, actor=None)
    client.force_login(member)
    html = client.get(reverse("account-certificate"), **via_proxy()).content.decode()
    assert "already linked to another account" in html
    assert "outsider" not in html
    assert "Link this certificate" not in html
    response = client.post(
        reverse("account-certificate"), {"dn": JANE_DN}, follow=True, **via_proxy()
    )
    assert "already linked to another account" in response.content.decode()
    assert "outsider" not in response.content.decode()
    assert Identity.objects.get().account == outsider


@pytest.mark.django_db
def test_a_dn_already_mine_says_so(client, member, cert_proxy):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    client.force_login(member)
    html = client.get(reverse("account-certificate"), **via_proxy()).content.decode()
    assert "already linked to your account" in html


@pytest.mark.django_db
def test_audit_records_the_client_behind_a_trusted_proxy_not_the_proxy(
    client, member, member_login, settings
):
    settings.GATEHOUSE_TRUSTED_PROXIES = [PROXY]
    cert = identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    client.force_login(member)
    url = reverse("account-identity-remove", args=[cert.pk])
    client.post(url, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert AuditEvent.objects.get(action="identity.remove").ip == "198.51.100.7"
