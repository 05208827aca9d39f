"""Forms of the token screens."""

from django import forms

from tokens.inspect import target_choices
from tokens.inspection import MAX_TOKEN_CHARS, STORAGE_OPERATIONS
from tokens.selectors import TokenState


class NeverEchoedTextarea(forms.Textarea):
    """Like PasswordInput(render_value=False): a submitted token is never written back."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


class TargetForm(forms.Form):
    """Where the token is meant to be used, and an optional "may it do OP on PATH?" question."""

    target = forms.ChoiceField(label="Target", required=False)
    audience = forms.CharField(
        label="…or another audience",
        required=False,
        max_length=500,
        help_text="A storage endpoint URL such as https://se.example.org, or any audience string.",
    )
    operation = forms.ChoiceField(
        label="May it…",
        required=False,
        choices=[("", "—"), *[(op, op) for op in STORAGE_OPERATIONS]],
    )
    path = forms.CharField(
        label="…this path?", required=False, max_length=1000, help_text="e.g. /data/run1/file"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", "No target: just check the token"), *target_choices()]

    def clean(self):
        data = super().clean()
        if bool(data.get("operation")) != bool(data.get("path")):
            raise forms.ValidationError("To ask about a path, choose both an operation and a path.")
        return data

    @property
    def chosen_target(self) -> str | None:
        return self.cleaned_data.get("audience") or self.cleaned_data.get("target") or None


class InspectForm(TargetForm):
    field_order = ["token", "target", "audience", "operation", "path"]

    token = forms.CharField(
        label="Access token",
        # Up to 4x the token limit so an oversized paste gets the inspector's own explanation.
        max_length=4 * MAX_TOKEN_CHARS,
        strip=False,
        widget=NeverEchoedTextarea(
            attrs={
                "class": "token-input",
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "rows": 6,
            }
        ),
        help_text="Pasted tokens are checked in memory and never stored or logged.",
    )


class TokenFilterForm(forms.Form):
    account = forms.CharField(label="Account", required=False, max_length=25)
    idp = forms.ChoiceField(label="Provider", required=False)
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "any"), *TokenState.CHOICES]
    )

    def __init__(self, *args, providers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["idp"].choices = [("", "any"), *[(p.nickname, p.label) for p in providers]]


LIFETIME_MINUTES = (5, 10, 20, 60, 120, 360)


class StorageTokenForm(forms.Form):
    """The Storage access panel: which element, which operation, which part, for how long.

    It only collects the request; tokens.policy decides what may be granted.
    """

    storage_element = forms.ChoiceField(label="Storage element")
    operation = forms.ChoiceField(label="Operation")
    data_path = forms.ChoiceField(label="Data path")
    sub_path = forms.CharField(
        label="Only this part (optional)",
        required=False,
        max_length=1000,
        help_text="A file or folder inside the data path, e.g. run1/image-0001.fits.",
    )
    lifetime = forms.TypedChoiceField(label="Valid for", coerce=int)

    def __init__(self, *args, offers=(), campaign=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.offers = {offer.storage_element.name: offer for offer in offers if offer.operations}
        self.fields["storage_element"].choices = [
            (name, f"{name} ({offer.storage_element.audience})")
            for name, offer in self.offers.items()
        ]
        operations = sorted(
            {op for offer in self.offers.values() for op in offer.operations},
            key=("read", "stage", "create", "modify").index,
        )
        self.fields["operation"].choices = [(op, f"storage.{op}") for op in operations]
        paths = list(campaign.data_paths) if campaign else []
        self.fields["data_path"].choices = [(p, p) for p in paths]
        longest = max(
            (offer.storage_element.max_lifetime for offer in self.offers.values()), default=None
        )
        self.fields["lifetime"].choices = [
            (m, f"{m} minutes" if m < 120 else f"{m // 60} hours")
            for m in LIFETIME_MINUTES
            if longest is None or m * 60 <= longest.total_seconds()
        ]
        if self.fields["lifetime"].choices:
            self.fields["lifetime"].initial = min(20, self.fields["lifetime"].choices[-1][0])

    def clean_sub_path(self) -> str:
        return self.cleaned_data["sub_path"].strip().strip("/")
