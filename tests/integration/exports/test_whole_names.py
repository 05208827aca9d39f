"""Issue 11 case 2, defence in depth: a name saved before the whole-string rule (a trailing
newline) never reaches an exported file; the row is left out and reported."""

import pytest

from accounts.models import Account
from accounts.services import account_create
from campaigns.exports import FORMATS, ExportError, ExportReport, render
from campaigns.exports.selection import account_rows
from campaigns.models import Campaign, Membership


def export_text(format_name: str, report: ExportReport) -> str:
    return "".join(render(format_name, report))


@pytest.fixture
def mallory(export_data):
    """`account add $'mallory\\n'` worked with `$`; such a row may still be in a database."""
    mallory = account_create(name="mallory", display_name="Mallory")
    Account.objects.filter(pk=mallory.pk).update(name="mallory\n")
    Membership.objects.create(account=mallory, campaign=export_data.camp_a, state="approved")
    return mallory


@pytest.mark.parametrize("format_name", list(FORMATS))
def test_a_name_with_a_newline_is_left_out_and_reported(mallory, format_name):
    report = ExportReport()
    text = export_text(format_name, report)
    assert "mallory" not in text
    # mallory holds no identity, and the permissions plan names only campaigns' PIs
    if format_name not in ("multimap-ids", "permissions"):
        assert (
            report.skipped[
                "account name that does not match its rule (see manage.py check_account_names)"
            ]
            >= 1
        )
    lines = text.splitlines()
    # Every line is whole: no line starts with a stray member list or a bare name.
    assert all(not line.startswith(",") for line in lines)


def test_a_campaign_slug_with_a_newline_is_left_out(export_data):
    Campaign.objects.filter(pk=export_data.camp_b.pk).update(slug="camp-2025b\n")
    report = ExportReport()
    text = export_text("group", report)
    assert "camp-2025b" not in text
    # the campaign's own line, and one per member row of it
    assert report.skipped["campaign name that does not match its rule"] >= 2


def test_without_a_report_the_export_is_refused(mallory):
    with pytest.raises(ExportError, match="does not match its rule"):
        list(account_rows())
