"""webui.renderers.FormRenderer writes <input> and <textarea> in Python: every field of every
form of the portal must come out exactly as Django's templates write it, whatever its value."""

import datetime
import importlib
from pathlib import Path

import django
import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from webui.renderers import INPUT_TEMPLATES, TEXTAREA_TEMPLATE, FormRenderer

FORM_MODULES = [
    "accounts.forms",
    "accounts.admin",
    "campaigns.forms",
    "campaigns.admin",
    "campaigns.exports.admin",
    "tokens.forms",
]
HOSTILE = "<script>alert(1)</script>\"'& é\n2nd line"
VALUES = [None, "", "plain", HOSTILE, mark_safe("<b>safe</b>"), 42, datetime.date(2027, 3, 1)]


def _form_classes() -> list[type[forms.BaseForm]]:
    modules = [importlib.import_module(name) for name in FORM_MODULES]
    found = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, forms.BaseForm)
        and value.__module__ == module.__name__
    }
    return sorted(found, key=lambda form: form.__qualname__)


def _fields():
    for form in _form_classes():
        for name, field in form.base_fields.items():
            if isinstance(field, forms.ModelChoiceField):
                continue  # a <select> of database rows: Django's templates render it, as before
            yield pytest.param(name, field, id=f"{form.__qualname__}.{name}")


def test_the_portal_uses_it():
    assert isinstance(get_default_renderer(), FormRenderer)
    assert len(_form_classes()) >= 20  # every form module was read


@pytest.mark.parametrize(("name", "field"), list(_fields()))
def test_every_field_renders_as_djangos_templates_render_it(name, field):
    ours, django_templates = FormRenderer(), DjangoTemplates()
    for value in VALUES:
        for attrs in (None, {"id": f"id_{name}", "aria-describedby": "x<y"}):
            expected = field.widget.render(name, value, attrs=attrs, renderer=django_templates)
            assert field.widget.render(name, value, attrs=attrs, renderer=ours) == expected


def test_attributes_true_false_none_numbers_lazy_and_safe_text():
    attrs = {
        "required": True,
        "disabled": False,
        "placeholder": gettext_lazy("Search…"),
        "data-none": None,
        "maxlength": 25,
        "data-safe": mark_safe("<i>"),
        "data-x": '"><script>',
    }
    ours, django_templates = FormRenderer(), DjangoTemplates()
    for widget in (forms.TextInput(attrs), forms.Textarea(attrs), forms.CheckboxInput(attrs)):
        for value in VALUES + [True, False]:
            expected = widget.render("f<", value, renderer=django_templates)
            assert widget.render("f<", value, renderer=ours) == expected
    # Not written out here: Django's own templates still render them.
    select = forms.Select(choices=[("a", "<A>")])
    assert select.render("s", "a", renderer=ours) == select.render(
        "s", "a", renderer=django_templates
    )


def test_the_templates_it_copies_are_still_djangos():
    """A Django upgrade that changes these templates, or an app that overrides one, must be
    noticed: the copy would then be wrong."""
    engine = DjangoTemplates().engine
    forms_templates = Path(django.__file__).parent / "forms" / "templates"
    for name in [*INPUT_TEMPLATES, TEXTAREA_TEMPLATE, "django/forms/widgets/attrs.html"]:
        origin = Path(engine.get_template(name).origin.name)
        assert origin == forms_templates / name, name  # not overridden by an app
    widgets = forms_templates / "django/forms/widgets"
    assert (widgets / "input.html").read_text() == (
        '<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %}'
        " value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}"
        '{% include "django/forms/widgets/attrs.html" %}>\n'
    )
    assert (widgets / "textarea.html").read_text() == (
        '<textarea name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>\n'
        "{% if widget.value %}{{ widget.value }}{% endif %}</textarea>\n"
    )
    assert (widgets / "attrs.html").read_text() == (
        "{% for name, value in widget.attrs.items %}{% if value is not False %} {{ name }}"
        "{% if value is not True %}=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}"
        "{% endfor %}"
    )
    for name in INPUT_TEMPLATES - {"django/forms/widgets/input.html"}:
        source = (forms_templates / name).read_text()
        assert source == '{% include "django/forms/widgets/input.html" %}\n', name
