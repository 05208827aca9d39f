"""The Storage access panel on the campaign page, its POST (page and htmx), and "Storage tokens
I was issued"."""

import jwt
import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from tests.integration.storage_tokens.conftest import embargoed_campaign
from tokens.issuer.keys import issuer_key_create
from tokens.models import IssuedToken, StorageElement

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(admin, pi, member, outsider, settings):
    settings.SITE_URL = "https://gatehouse.example.org"
    issuer_key_create()
    campaign = embargoed_campaign(admin=admin, pi=pi, members=[member])
    StorageElement.objects.create(
        name="dcache",
        audiences=["https://dcache.example.org"],
        base_path="/data",
        endpoints=["https://dcache.example.org:2880", "root://xrootd.example.org:1094"],
    )
    return campaign


def client_for(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def ask(client: Client, **extra):
    data = {
        "storage_element": "dcache",
        "operation": "read",
        "data_path": "/data/nightsky",
        "sub_path": "run1/f%1.fits",
        "lifetime": "10",
        **extra,
    }
    return client.post(reverse("tokens:storage_request", args=["nightsky"]), data)


def test_campaign_page_shows_the_panel_by_who_is_looking(world, member, outsider):
    url = reverse("campaigns:detail", args=["nightsky"])
    page = client_for(member).get(url).content.decode()
    assert "Storage access" in page and 'name="sub_path"' in page
    panel = page.split('id="storage-access"')[1]
    assert 'name="csrfmiddlewaretoken"' in panel  # the form also works without JavaScript
    assert 'value="read"' in page and 'value="create"' not in page  # members read
    pi_page = client_for(world.pi).get(url).content.decode()
    assert 'value="create"' in pi_page and 'value="modify"' in pi_page
    outsider_page = client_for(outsider).get(url).content.decode()
    assert 'name="sub_path"' not in outsider_page
    assert "issues you no storage tokens" in outsider_page and "under embargo" in outsider_page
    anonymous = Client().get(url).content.decode()
    assert "Log in to get a short-lived token" in anonymous


def test_member_gets_a_token_shown_once_with_commands(world, member):
    response = ask(client_for(member))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    record = IssuedToken.objects.get()
    page = response.content.decode()
    token = page.split('id="minted-token" class="token-output" rows="4" readonly>')[1].split("<")[0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["jti"] == record.jti
    assert claims["scope"] == "storage.read:/nightsky/run1/f%1.fits"
    assert claims["exp"] - claims["iat"] == 600
    assert record.way == "browser" and record.token_hash != token
    # Copyable commands, with the path quoted for the shell and the URL.
    assert "curl -fL -H &quot;Authorization: Bearer $BEARER_TOKEN&quot;" in page
    assert "https://dcache.example.org:2880/data/nightsky/run1/f%251.fits" in page
    assert "xrdcp root://xrootd.example.org:1094//data/nightsky/run1/f%251.fits ./" in page
    assert "gfal-copy davs://dcache.example.org:2880/data/nightsky/run1/f%251.fits" in page
    assert "davix-get" in page
    event = AuditEvent.objects.get(action="storage_token.issue")
    assert event.actor == member and event.detail["way"] == "browser"
    # Shown once: the list of issued tokens has the record, not the token.
    listing = client_for(member).get(reverse("tokens:storage_mine")).content.decode()
    assert record.jti in listing and token not in listing


def test_htmx_gets_the_panel_fragment(world, member):
    response = client_for(member).post(
        reverse("tokens:storage_request", args=["nightsky"]),
        {
            "storage_element": "dcache",
            "operation": "read",
            "data_path": "/data/nightsky",
            "lifetime": "20",
        },
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<section class="card storage-access" id="storage-access"')
    assert "<html" not in page
    assert IssuedToken.objects.get().scopes == "storage.read:/nightsky"


def test_refusals_name_the_rule_and_are_audited(world, member, outsider):
    response = ask(client_for(member), operation="create")
    # `create` is not offered to a member: the form refuses the choice itself.
    assert "Select a valid choice" in response.content.decode()
    response = ask(client_for(member), sub_path="../oldsky")
    assert "rule: path-unsafe" in response.content.decode()
    # A space would split the scope claim into two scopes.
    response = ask(client_for(member), sub_path="run1/f 1.fits")
    assert "contains whitespace" in response.content.decode()
    assert not IssuedToken.objects.exists()
    rules = AuditEvent.objects.filter(action="storage_token.refuse").values_list(
        "detail__rule", flat=True
    )
    assert list(rules) == ["path-unsafe", "path-unsafe"]
    response = ask(client_for(outsider))
    assert response.status_code == 200
    assert not IssuedToken.objects.exists()


def test_lifetimes_longer_than_the_element_allows_are_not_offered(world, member):
    response = ask(client_for(member), lifetime="60")  # dcache: 20 minutes
    assert "Select a valid choice" in response.content.decode()
    assert not IssuedToken.objects.exists()


def test_pi_gets_an_upload_token(world):
    response = ask(client_for(world.pi), operation="create", sub_path="incoming")
    assert response.status_code == 200
    assert IssuedToken.objects.get().scopes == "storage.create:/nightsky/incoming"


def test_the_panel_post_needs_csrf(world, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(
        reverse("tokens:storage_request", args=["nightsky"]),
        {"storage_element": "dcache", "operation": "read", "data_path": "/data/nightsky"},
    )
    assert response.status_code == 403
    assert not IssuedToken.objects.exists()


def test_issued_list_shows_only_ones_own(world, member, outsider):
    ask(client_for(member))
    jti = IssuedToken.objects.get().jti
    assert jti not in client_for(outsider).get(reverse("tokens:storage_mine")).content.decode()


def test_unknown_campaign_is_404(world, member):
    response = client_for(member).post(reverse("tokens:storage_request", args=["nope"]), {})
    assert response.status_code == 404


def test_panel_queries_do_not_grow_with_storage_elements(
    world, member, django_assert_max_num_queries
):
    url = reverse("campaigns:detail", args=["nightsky"])
    client = client_for(member)
    client.get(url)  # warm caches (session, providers)
    with django_assert_max_num_queries(20) as one:
        client.get(url)
    for index in range(5):
        StorageElement.objects.create(
            name=f"extra{index}",
            audiences=[f"https://extra{index}.example.org"],
            base_path="/data",
            tape=index % 2 == 0,
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url).content.decode()
    assert "extra4 (https://extra4.example.org)" in page


def test_tape_elements_offer_stage(world, member):
    StorageElement.objects.filter(name="dcache").update(tape_paths=["/data/nightsky"])
    page = client_for(member).get(reverse("campaigns:detail", args=["nightsky"])).content.decode()
    assert 'value="stage"' in page
