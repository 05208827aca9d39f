"""The detail page's "which token scopes read this data" block, from the token inspection core.

Skipped until the `inspect` branch (accounts.inspection) is merged next to this one.
"""

import pytest
from django.urls import reverse

pytest.importorskip("accounts.inspection")
pytestmark = pytest.mark.django_db


def test_detail_lists_the_scopes_that_read_each_data_path(as_role, campaign):
    html = as_role("anonymous").get(reverse("campaigns:detail", args=["nightsky"])).content
    html = html.decode()
    assert 'id="token-scopes"' in html
    assert "<code>storage.read:/data/nightsky</code>" in html
    assert "<code>storage.read:/tape/nightsky</code>" in html
