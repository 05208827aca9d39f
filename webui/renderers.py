"""Django's form renderer, with its plainest widget templates written out in Python.

Every <input> and <textarea> of a form is a render of Django's `input.html` or `textarea.html`
(with `attrs.html` inside), which costs the template engine about 0.1 ms a field: six fields
were a tenth of the campaign manage page's CPU (issue 16, "Page cost"). Here those three
templates are the same markup written as Python, fed by the context Django's widget builds (so
every attribute, value format and `required` flag is still Django's), and escaped as the
templates' autoescape does. Every other template (selects, checkboxes lists, admin widgets,
error lists, whole forms) is Django's own, rendered as before.

tests/unit/test_form_renderer.py renders every field of every form of the portal, bound and
unbound and with markup in their values, both ways, and checks that the templates this copies
are still what it copies.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData

# The widget templates that are exactly {% include "django/forms/widgets/input.html" %}.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "search",
        "tel",
        "color",
        "date",
        "datetime",
        "time",
        "checkbox",
    )
)
TEXTAREA_TEMPLATE = "django/forms/widgets/textarea.html"


def _formatted(value) -> str:
    """{{ value|stringformat:'s' }}: the text of `value`, escaped unless marked safe."""
    return str(value) if isinstance(value, SafeData) else escape(str(value))


def _attrs(attrs: dict) -> str:
    """attrs.html: ` name="value"` per attribute, ` name` for True, nothing for False."""
    return "".join(
        ""
        if value is False
        else f" {conditional_escape(name)}"
        if value is True
        else f' {conditional_escape(name)}="{_formatted(value)}"'
        for name, value in attrs.items()
    )


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{_formatted(widget["value"])}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{value}{_attrs(widget["attrs"])}>'
    )


def _textarea(widget: dict) -> str:
    text = conditional_escape(widget["value"]) if widget["value"] else ""
    return (
        f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n'
        f"{text}</textarea>"
    )


class FormRenderer(DjangoTemplates):
    """FORM_RENDERER: Django's templates, but <input> and <textarea> written out."""

    def render(self, template_name, context, request=None):
        if template_name in INPUT_TEMPLATES:
            return _input(context["widget"])
        if template_name == TEXTAREA_TEMPLATE:
            return _textarea(context["widget"])
        return super().render(template_name, context, request)
