"""Django's form renderer, with its plainest widget and error templates written out in Python.

Every <input>, <textarea> and <select> of a form is a render of Django's `input.html`,
`textarea.html` or `select.html` (with `attrs.html` and an `select_option.html` per option
inside), which costs the template engine 0.1-0.3 ms a field: six fields were a tenth of the
campaign manage page's CPU (issue 16, "Page cost"). Here those templates are the same markup
written as Python, fed by the context Django's widget builds (so every attribute, value format,
option and `required` flag is still Django's), and shown and escaped as the templates' variables
are. The same goes for a form's and a field's error list (`ul.html`): most fields of a page have
none, and the engine took 0.05 ms to write nothing for each. Every other template (radio and
checkbox lists, admin widgets, whole forms, a select whose options have a template of their
own, an error list rendered with a context of its own) is Django's, rendered as before.

tests/unit/test_form_renderer.py renders every field of every form of the portal, bound and
unbound and with markup in their values, both ways, and checks that the templates this copies
are still what it copies.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData
from django.utils.timezone import template_localtime

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
SELECT_TEMPLATE = "django/forms/widgets/select.html"
OPTION_TEMPLATE = "django/forms/widgets/select_option.html"
# A field's or form's error list: default.html is exactly {% include "…/ul.html" %}.
ERROR_LIST_TEMPLATES = frozenset(
    ("django/forms/errors/list/default.html", "django/forms/errors/list/ul.html")
)


def _shown(value) -> str:
    """{{ value }}: in the site's time zone and number format, escaped unless marked safe."""
    value = localize(template_localtime(value))
    return conditional_escape(value if isinstance(value, str) else str(value))


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


def _select(widget: dict) -> str | None:
    """select.html with select_option.html for each option; None when an option has another
    template."""
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_shown(group_name)}">')
        for option in options:
            if option["template_name"] != OPTION_TEMPLATE:
                return None
            parts.append(
                f'\n  <option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
                f"{_shown(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _error_list(errors, error_class) -> str:
    """ul.html: nothing for no errors (most fields of most pages), else a <ul> of them."""
    if not errors:
        return ""
    field_id = getattr(errors, "field_id", None)
    ident = f' id="{_shown(field_id)}_error"' if field_id else ""
    items = "".join(f"<li>{_shown(error)}</li>" for error in errors)
    return f'<ul class="{_shown(error_class)}"{ident}>{items}</ul>'


class FormRenderer(DjangoTemplates):
    """FORM_RENDERER: Django's templates, but <input>, <textarea> and <select> written out."""

    def render(self, template_name, context, request=None):
        if template_name in INPUT_TEMPLATES:
            return _input(context["widget"])
        if template_name == TEXTAREA_TEMPLATE:
            return _textarea(context["widget"])
        if template_name == SELECT_TEMPLATE and (html := _select(context["widget"])) is not None:
            return html
        if template_name in ERROR_LIST_TEMPLATES and context.keys() == {"errors", "error_class"}:
            return _error_list(context["errors"], context["error_class"])
        return super().render(template_name, context, request)
