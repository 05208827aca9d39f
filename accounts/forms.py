from django import forms

from accounts.models import account_name_validator, validate_printable
from accounts.selectors import account_name_taken

NAME_HELP = (
    "1 to 25 characters: lowercase letters, digits, '-' and '_', not starting with '-'. "
    "It cannot be changed later."
)


def _clean_account_name(value: str) -> str:
    return value.strip().lower()


class RegistrationForm(forms.Form):
    requested_name = forms.CharField(label="Account name", max_length=25, help_text=NAME_HELP)
    email = forms.EmailField(
        label="Email",
        help_text="We write to this address when an admin has decided.",
        validators=[validate_printable],
    )
    display_name = forms.CharField(label="Your name", max_length=200, required=False)
    comment = forms.CharField(
        label="Anything the admins should know (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example your institute, group or the campaign you work on.",
    )

    def clean_requested_name(self) -> str:
        name = _clean_account_name(self.cleaned_data["requested_name"])
        account_name_validator(name)
        if account_name_taken(name=name):
            raise forms.ValidationError(f"The account name {name!r} is taken: choose another.")
        return name


class RegistrationApproveForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=25, help_text=NAME_HELP)

    def clean_name(self) -> str:
        name = _clean_account_name(self.cleaned_data["name"])
        account_name_validator(name)
        return name


class RegistrationRejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sent to the person by email.",
        error_messages={"required": "Say why, in a sentence the person will read."},
    )
