"""The detail page's "which token scopes read this data" block (the token team's hook)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_detail_lists_the_scopes_that_read_each_data_path(as_role, campaign):
    response = as_role("anonymous").get(reverse("campaigns:detail", args=["nightsky"]))
    html = response.content.decode()
    assert "tokens/campaign_scopes.html" in [t.name for t in response.templates]
    assert "Tokens that can read this data" in html
    assert "<code>storage.read:/data/nightsky</code>" in html
    assert "<code>storage.read:/tape/nightsky</code>" in html
