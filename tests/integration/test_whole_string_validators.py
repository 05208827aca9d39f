"""Issue 11 case 2: every format rule matches the whole string.

`^...$` lets a final newline through (`account add $'mallory\\n'` worked and broke the group
file). This walks every string field of the accounts, campaigns and tokens models and every
form field, feeds each a valid value with a trailing newline, a NUL and a lone surrogate
appended, and asserts the refusal where the field has a format rule. A new string field fails
`test_every_string_field_is_classified` until it is put in one of the tables below.
"""

import re
from pathlib import Path

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.test import Client

from accounts import admin as accounts_admin
from accounts import forms as accounts_forms
from accounts.identities import normalise_identity
from campaigns import admin as campaigns_admin
from campaigns import forms as campaigns_forms
from tokens import forms as tokens_forms

BAD = {"newline": "\n", "NUL": "\x00", "lone surrogate": "\ud800"}
REPO = Path(__file__).resolve().parents[2]

# Fields with a format rule, and a value that passes it.
FORMAT_FIELDS = {
    "accounts.Account.name": "mallory",
    "accounts.Account.email": "mallory@example.org",
    "accounts.Identity.email": "mallory@example.org",
    "accounts.Registration.requested_name": "mallory",
    "accounts.Registration.email": "mallory@example.org",
    "campaigns.Campaign.slug": "nightsky",
    "campaigns.Campaign.data_paths": ["/data/nightsky"],
    "campaigns.CampaignRequest.slug": "nightsky",
    "tokens.StorageElement.name": "dcache-1",
    "tokens.StorageElement.audiences": ["https://storage.example.org"],
    "tokens.StorageElement.base_path": "/gatehouse",
    "tokens.StorageElement.endpoints": ["https://storage.example.org:2880"],
    "tokens.StorageElement.tape_paths": ["/tape"],
    "tokens.OAuthClient.client_id": "rucio-fts",
    "tokens.OAuthClient.audiences": ["dcache-1"],
    "tokens.OAuthClient.grants": ["client_credentials"],
    "tokens.OAuthClient.operations": ["read"],
    "tokens.OAuthClient.path_prefixes": ["/data"],
    "campaigns.CampaignRequest.data_paths": ["/data/nightsky"],
}
# The identity string's rule lives in the service that stores it (accounts.identities).
IDENTITY_FIELDS = {
    "accounts.Identity.identity": [
        ("OIDC", "SUB=abc, ISS=https://iam.example.org/"),
        ("X509", "/C=DE/O=GermanGrid/CN=Jane Doe"),
    ],
    "accounts.Registration.identity": [("OIDC", "SUB=abc, ISS=https://iam.example.org/")],
}
# Free text, internal values written by the portal itself, or secrets (stored encrypted).
FREE_OR_INTERNAL = {
    "accounts.PosixIdCounter.kind",
    "accounts.Account.password",
    "accounts.Account.status_reason",
    "accounts.Account.display_name",
    "accounts.Identity.idp",
    "accounts.Registration.idp",
    "accounts.Registration.display_name",
    "accounts.Registration.comment",
    "accounts.Registration.reason",
    "accounts.AuditEvent.actor_name",
    "accounts.AuditEvent.action",
    "accounts.AuditEvent.target",
    "accounts.AuditEvent.comment",
    "accounts.AuditEvent.detail",
    "accounts.IdpGroup.idp",
    "accounts.IdpGroup.scim_id",
    "accounts.IdpGroup.name",
    "accounts.SyncRun.idp",
    "accounts.SyncRun.counts",
    "accounts.SyncRun.error",
    "accounts.SyncRun.triggered_by",
    "accounts.SyncRun.kind",
    "accounts.ScheduledJob.name",
    # what the last Rucio reconcile made true there (written by the portal from its own data)
    "accounts.RucioAccountState.status",
    "accounts.RucioAccountState.type",
    "accounts.RucioAccountState.email",
    "accounts.RucioAccountState.identities",
    "accounts.RucioAccountState.problem",
    "campaigns.Campaign.title",
    "campaigns.CampaignRequest.title",
    "campaigns.CampaignRequest.description",
    "campaigns.CampaignRequest.reason",
    "campaigns.CampaignRequest.decision_reason",
    "campaigns.Campaign.description",
    "campaigns.Membership.request_message",
    "campaigns.Membership.comment",
    "campaigns.NodeToken.name",
    "campaigns.NodeToken.token_hash",
    "tokens.Token.idp",
    "tokens.Token.token_hash",
    "tokens.Token.token",
    "tokens.Token.id_token",
    "tokens.Token.scope",
    "tokens.Token.audience",
    "tokens.Token.refresh_token",
    "tokens.Token.refresh_error",
    # Django's session: a key it makes, data it signs
    "accounts.Session.session_key",
    "accounts.Session.session_data",
    # written by the issuer itself, never typed in
    "tokens.StorageElement.issuer_base_paths",
    "tokens.IssuerKey.kid",
    "tokens.IssuerKey.private_key",
    "tokens.IssuerKey.public_jwk",
    "tokens.OAuthClient.secret_hash",
    "tokens.IssuedToken.jti",
    "tokens.IssuedToken.scopes",
    "tokens.IssuedToken.kid",
    "tokens.IssuedToken.token_hash",
    "tokens.IssuedToken.way",
}


def string_fields():
    for app in ("accounts", "campaigns", "tokens"):
        for model in apps.get_app_config(app).get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, (models.CharField, models.TextField, models.JSONField)):
                    yield f"{app}.{model.__name__}.{field.name}", model, field


def bad_values(valid):
    for label, suffix in BAD.items():
        yield label, ([valid[0] + suffix] if isinstance(valid, list) else valid + suffix)


def test_every_string_field_is_classified():
    for key, _, field in string_fields():
        known = key in FORMAT_FIELDS or key in IDENTITY_FIELDS or key in FREE_OR_INTERNAL
        assert known or field.choices, f"{key}: add it to a table of this test"
        rule = [v for v in field.validators if type(v).__name__ != "MaxLengthValidator"]
        assert not rule or key in FORMAT_FIELDS, f"{key} has a format rule: test it"


@pytest.mark.parametrize("key", sorted(FORMAT_FIELDS))
def test_format_fields_refuse_a_trailing_newline_a_nul_and_a_lone_surrogate(key):
    field = next(f for k, _, f in string_fields() if k == key)
    valid = FORMAT_FIELDS[key]
    field.clean(valid, None)
    for label, value in bad_values(valid):
        with pytest.raises(ValidationError):
            field.clean(value, None)
            pytest.fail(f"{key} accepted a value with a {label}")


def test_choice_fields_refuse_them_too():
    for key, _, field in string_fields():
        if field.choices:
            for label, value in bad_values(field.choices[0][0]):
                with pytest.raises(ValidationError):
                    field.clean(value, None)
                    pytest.fail(f"{key} accepted a value with a {label}")


@pytest.mark.parametrize("key", sorted(IDENTITY_FIELDS))
def test_identity_strings_refuse_them(key):
    for kind, valid in IDENTITY_FIELDS[key]:
        assert normalise_identity(type=kind, identity=valid)
        for label, suffix in BAD.items():
            for value in (valid + suffix, valid.replace("abc", "ab" + suffix + "c")):
                if value == valid:
                    continue
                try:
                    stored = normalise_identity(type=kind, identity=value)
                except ValueError:
                    continue
                # A surrounding newline may be trimmed away; nothing bad may be stored.
                assert suffix not in stored, f"{kind} identity kept a {label}: {value!r}"


def test_the_account_name_rule_is_rucios_and_posix():
    from accounts.models import account_name_validator

    for good in ("a", "jdoe", "j_doe-2", "_svc", "a" * 25):
        account_name_validator(good)
    for bad in ("", "-jdoe", "JDoe", "a" * 26, "j doe", "jdoe\n", "\njdoe"):
        with pytest.raises(ValidationError):
            account_name_validator(bad)


# --- forms ------------------------------------------------------------------------------------

FORM_CLASSES = [
    accounts_forms.RegistrationForm,
    accounts_forms.RegistrationApproveForm,
    accounts_forms.RegistrationRejectForm,
    accounts_admin.AccountAddForm,
    accounts_admin.SuspendForm,
    accounts_admin.IdentityAddForm,
    campaigns_admin.CampaignAdminForm,
    campaigns_forms.CampaignFilterForm,
    campaigns_forms.JoinRequestForm,
    campaigns_forms.DecisionForm,
    campaigns_forms.MemberAddForm,
    campaigns_forms.ValidUntilForm,
    campaigns_forms.CommentForm,
    campaigns_forms.CampaignSettingsForm,
    campaigns_forms.WhoCanReadForm,
    campaigns_forms.CampaignNewForm,
    campaigns_forms.CampaignRequestRejectForm,
    tokens_forms.InspectForm,
    tokens_forms.StorageTokenForm,
    tokens_forms.TokenFilterForm,
]
FORM_VALID = {
    "email": "mallory@example.org",
    "data_paths": "/data/nightsky",
    "path": "/data/nightsky",
    "slug": "nightsky",
    "identity": "SUB=abc, ISS=https://iam.example.org/",
    "audience": "https://storage.example.org",
}
# Form fields whose value must match a rule (the rest is free text a person writes).
FORM_FORMAT_FIELDS = {"requested_name", "name", "email", "data_paths", "slug", "account_name"}


def test_every_form_is_walked():
    """Every Form subclass of the three apps appears in FORM_CLASSES."""
    found = set()
    for module in ("accounts.forms", "campaigns.forms", "tokens.forms"):
        mod = __import__(module, fromlist=["*"])
        for value in vars(mod).values():
            if (
                isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module
                and "Filter" not in value.__name__[:0]
            ):
                found.add(value)
    missing = {cls.__name__ for cls in found} - {cls.__name__ for cls in FORM_CLASSES}
    assert not missing - {"TargetForm"}, missing


@pytest.mark.django_db
@pytest.mark.parametrize("form_class", FORM_CLASSES, ids=lambda c: c.__name__)
def test_form_fields_never_keep_a_newline_nul_or_surrogate_in_a_formatted_value(form_class):
    probe = form_class()
    for name, field in probe.fields.items():
        if not isinstance(field, forms.CharField) or isinstance(field, forms.ChoiceField):
            continue
        valid = FORM_VALID.get(name, "mallory")
        for label, suffix in BAD.items():
            form = form_class(data={name: valid + suffix})
            form.is_valid()
            value = form.cleaned_data.get(name) if name not in form.errors else None
            text = "\n".join(value) if isinstance(value, list) else str(value or "")
            if label == "NUL" or name in FORM_FORMAT_FIELDS:
                assert suffix not in text, f"{form_class.__name__}.{name} kept a {label}"


@pytest.mark.django_db
def test_a_lone_surrogate_cannot_arrive_through_http(admin):
    """Django decodes request bodies with replacement, so free-text fields never see one."""
    client = Client()
    client.force_login(admin)
    response = client.get("/campaigns/", {"q": "a"}, QUERY_STRING="q=%ED%A0%80")
    assert response.status_code == 200
    assert "\ud800" not in response.wsgi_request.GET["q"]


def test_no_validation_regex_ends_in_a_dollar():
    """`$` also matches before a final newline; validators use \\Z or fullmatch."""
    offenders = []
    for path in REPO.glob("*/**/*.py"):
        if ".venv" in path.parts or "node_modules" in path.parts or "tests" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""\$["']""", line) and re.search(r"""r["']\^""", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, offenders
