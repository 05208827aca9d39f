from django import forms
from django.core.exceptions import ValidationError

from accounts.models import account_name_validator
from campaigns.models import CAMPAIGN_SLUG_RE, validate_data_paths
from campaigns.selectors import ListFilter

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class CampaignFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "name, title or PI"}),
    )
    show = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[
            (ListFilter.ALL, "All campaigns"),
            (ListFilter.MINE, "My campaigns"),
            (ListFilter.EMBARGO, "Under embargo"),
            (ListFilter.PUBLIC, "Public"),
        ],
    )


class JoinRequestForm(forms.Form):
    message = forms.CharField(
        label="Message to the PI (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Say who you are and what you need the data for.",
    )


class DecisionForm(forms.Form):
    """One form for approve and reject: the reason is required for a rejection only."""

    comment = forms.CharField(
        label="Comment (a reason is required to reject)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    valid_until = forms.DateField(label="Member until (optional)", required=False, widget=DATE)


class MemberAddForm(forms.Form):
    account_name = forms.CharField(label="Account name", max_length=25)
    valid_until = forms.DateField(label="Member until (optional)", required=False, widget=DATE)
    comment = forms.CharField(label="Comment (optional)", required=False, max_length=2000)

    def clean_account_name(self) -> str:
        name = self.cleaned_data["account_name"].strip().lower()
        account_name_validator(name)
        return name


class ValidUntilForm(forms.Form):
    valid_until = forms.DateField(label="Member until", required=False, widget=DATE)
    comment = forms.CharField(label="Comment (optional)", required=False, max_length=2000)


class CommentForm(forms.Form):
    comment = forms.CharField(label="Comment (optional)", required=False, max_length=2000)


class DataPathsField(forms.CharField):
    """Data path prefixes typed one per line; cleaned to a list and checked by the model's rule."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "mono"})

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text", "One absolute storage path per line, e.g. /data/nightsky-2025."
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            return list(value)
        lines = [line.strip() for line in (value or "").splitlines()]
        return [line for line in lines if line]

    def validate(self, value) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        try:
            validate_data_paths(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def has_changed(self, initial, data) -> bool:
        return self.to_python(initial) != self.to_python(data)


class CampaignSettingsForm(forms.Form):
    embargo_until = forms.DateField(
        label="Embargo until",
        required=False,
        widget=DATE,
        help_text="Leave empty to make the data public now.",
    )
    data_paths = DataPathsField(label="Data path prefixes", required=False)
    comment = forms.CharField(label="Comment for the audit log (optional)", required=False)


class WhoCanReadForm(forms.Form):
    path = forms.CharField(label="Storage path", max_length=4096)
    account = forms.CharField(
        label="Account (optional)",
        required=False,
        max_length=25,
        help_text="Leave empty to see the rule for the path; yours is checked when logged in.",
    )


class CampaignNewForm(forms.Form):
    """A new campaign: scientists ask for one (with a reason); admins create it at once (with a
    PI)."""

    title = forms.CharField(label="Title", max_length=200)
    slug = forms.RegexField(
        label="Short name",
        regex=CAMPAIGN_SLUG_RE,
        max_length=32,
        help_text="The POSIX group name on the storage, e.g. nightsky-2026: lowercase letters, "
        "digits, '-' and '_'; it cannot change later.",
        error_messages={
            "invalid": "Use a POSIX group name: start with a lowercase letter or '_', "
            "then lowercase letters, digits, '-' or '_'."
        },
    )
    description = forms.CharField(
        label="Description (public)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    embargo_until = forms.DateField(
        label="Embargo until (optional)",
        required=False,
        widget=DATE,
        help_text="Members only may read the data until this day; empty means public.",
    )
    data_paths = DataPathsField(label="Data paths", required=False)
    reason = forms.CharField(
        label="Why is it needed?",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the admins who decide: the project, the instrument, who will join.",
    )
    pi = forms.CharField(
        label="PI (account name)",
        max_length=25,
        help_text="The account that leads the campaign and decides who joins.",
    )

    def __init__(self, *args, admin: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if admin:
            del self.fields["reason"]
        else:
            del self.fields["pi"]


class CampaignRequestRejectForm(forms.Form):
    reason = forms.CharField(label="Reason (sent to the requester)", max_length=2000)
