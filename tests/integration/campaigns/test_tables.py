"""The long tables of the campaign pages (campaigns/templatetags/campaign_tables.py): rows are
written in Python, so these tests put markup in every free-text field they show and check that
it arrives escaped, and that each row offers exactly the actions its Viewer allows."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Campaign, Membership
from tests.integration.campaigns.conftest import days, open_membership

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>\"'&"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"


@pytest.fixture
def hostile(campaign, pi, member, manager):
    Campaign.objects.filter(pk=campaign.pk).update(title=HOSTILE)
    Account.objects.filter(pk__in=[pi.pk, member.pk, manager.pk]).update(display_name=HOSTILE)
    return campaign


@pytest.mark.sqlite  # the pages of `make run`, whose database is SQLite
@pytest.mark.parametrize(
    ("role", "name", "args"),
    [
        ("member", "campaigns:list", []),
        ("member", "campaigns:detail", ["nightsky"]),
        ("pi", "campaigns:manage", ["nightsky"]),
        ("admin", "campaigns:manage", ["nightsky"]),
    ],
)
def test_free_text_in_rows_is_escaped(hostile, as_role, role, name, args):
    html = as_role(role).get(reverse(name, args=args)).content.decode()
    assert "<script>alert" not in html
    assert ESCAPED in html
    rows = re.findall(r"<tr[ >].*?</tr>", html, re.S)
    assert any(ESCAPED in row for row in rows[1:])  # a row, not only the page's heading


def test_list_rows_say_who_you_are_in_each_campaign(campaign, as_role):
    def you(role):
        html = as_role(role).get(reverse("campaigns:list")).content.decode()
        return re.search(r'<td data-label="You">(.*?)</td>', html).group(1)

    assert 'badge-info">PI' in you("pi")
    assert 'badge-approved">member' in you("member")
    assert 'badge-requested">requested' in you("requester")
    assert 'aria-label="not a member"' in you("outsider")
    assert 'aria-label="not a member"' in you("anonymous")


def _row(html: str, membership: Membership) -> str:
    return re.search(rf'<tr id="member-{membership.pk}">(.*?)</tr>', html, re.S).group(1)


def test_manage_rows_offer_what_the_viewer_may_do(campaign, as_role, pi, manager, member):
    url = reverse("campaigns:manage", args=["nightsky"])
    Membership.objects.filter(pk=open_membership(campaign, member).pk).update(valid_until=days(3))
    rows = {
        role: {
            who: _row(
                as_role(role).get(url + "?page=1").content.decode(), open_membership(campaign, a)
            )
            for who, a in (("pi", pi), ("manager", manager), ("member", member))
        }
        for role in ("pi", "manager", "admin")
    }
    # The PI's own row: no end date, no removal, for everybody.
    for role in rows:
        assert "no end date (PI)" in rows[role]["pi"] and "Remove…" not in rows[role]["pi"]
    # A member: every manager may end or remove; only the PI appoints.
    assert "Make manager" in rows["pi"]["member"]
    assert "Make manager" not in rows["manager"]["member"]
    assert "Make manager" not in rows["admin"]["member"]
    for role in rows:
        assert (
            "Remove member" in rows[role]["member"] and 'name="valid_until"' in rows[role]["member"]
        )
        assert "3 days left" in rows[role]["member"]
        assert 'value="1">Clear</button>' in rows[role]["member"]
    # A manager: the PI and admins may remove or end them; a manager not even their own row.
    assert "Remove manager role" in rows["pi"]["manager"]
    assert (
        "Remove manager" in rows["admin"]["manager"]
        and 'name="valid_until"' in rows["admin"]["manager"]
    )
    assert "Remove…" not in rows["manager"]["manager"]
    assert 'name="valid_until"' not in rows["manager"]["manager"]
    # Every form posts with the page's CSRF token and keeps the list's page.
    forms = re.findall(r'<form method="post" action="([^"]+)"', rows["pi"]["member"])
    assert all(action.endswith("/?page=1") for action in forms) and len(forms) == 2
    assert rows["pi"]["member"].count('name="csrfmiddlewaretoken"') == 3


@pytest.mark.sqlite
def test_waiting_requests_are_escaped_and_post_back_to_the_same_page(campaign, requester, as_role):
    Account.objects.filter(pk=requester.pk).update(display_name=HOSTILE, email="r@example.org")
    Membership.objects.filter(account=requester).update(request_message=f"{HOSTILE}\r\nline two")
    waiting = Membership.objects.get(account=requester, state=Membership.State.REQUESTED)
    url = reverse("campaigns:manage", args=["nightsky"])
    html = as_role("pi").get(url + "?page=1").content.decode()
    item = re.search(rf'<li class="request" id="request-{waiting.pk}">(.*?)</li>', html, re.S)
    item = item.group(1)
    assert "<script>alert" not in item
    assert f"<strong>{ESCAPED}</strong>" in item
    assert "(requester, r@example.org)" in item
    assert f'<blockquote class="quote">{ESCAPED}<br>line two</blockquote>' in item
    asked = timezone.localtime(waiting.created).strftime("%Y-%m-%d %H:%M")
    assert f"asked on {asked}" in item
    actions = re.findall(r'(?:action|formaction)="([^"]+)"', item)
    assert actions == [
        f"{url}requests/{waiting.pk}/approve/?page=1",
        f"{url}requests/{waiting.pk}/reject/?page=1",
    ]
    assert item.count('name="csrfmiddlewaretoken"') == 1
    assert f'<textarea id="comment-{waiting.pk}" name="comment"' in item
    # No message: said so, not an empty quote.
    Membership.objects.filter(pk=waiting.pk).update(request_message="")
    html = as_role("pi").get(url).content.decode()
    assert f'id="request-{waiting.pk}"' in html and "No message." in html
