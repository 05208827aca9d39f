"""webui.renderers.FormRenderer writes <input>, <textarea> and <select> in Python: every field of
every form of the portal must come out exactly as Django's templates write it, whatever its
value."""

import datetime
import importlib
from pathlib import Path

import django
import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from webui.renderers import (
    ERROR_LIST_TEMPLATES,
    INPUT_TEMPLATES,
    OPTION_TEMPLATE,
    SELECT_TEMPLATE,
    TEXTAREA_TEMPLATE,
    FormRenderer,
)

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


def test_selects_with_groups_numbers_dates_and_markup():
    choices = [
        ("", "---------"),
        ("a", '<A> & "b"'),
        (1, 1234567),
        ("lazy", gettext_lazy("Search…")),
        ("safe", mark_safe("<i>safe</i>")),
        ("<Group & co>", [("d", datetime.date(2027, 3, 1)), ("x", "X")]),
        (datetime.date(2027, 1, 2), "a date as value"),
    ]
    ours, django_templates = FormRenderer(), DjangoTemplates()
    values = [None, "", "a", "d", ["a", "d"], 1, "<x>", True]
    widgets = [
        (forms.Select(choices=choices), values),
        (forms.Select(attrs={"required": True, "data-x": "<"}, choices=choices), values),
        (forms.SelectMultiple(choices=choices), values),
        (forms.NullBooleanSelect(), [None, True, False, "true", "unknown"]),
    ]
    for widget, widget_values in widgets:
        for value in widget_values:
            expected = widget.render("s<", value, renderer=django_templates)
            assert widget.render("s<", value, renderer=ours) == expected

    class OwnOptions(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"

    # Options with a template of their own, and lists of radios: Django's templates, as before.
    for widget in (OwnOptions(choices=choices), forms.RadioSelect(choices=choices[1:3])):
        expected = widget.render("s", "a", renderer=django_templates)
        assert widget.render("s", "a", renderer=ours) == expected


def test_error_lists_render_as_djangos_templates_render_them():
    ours, django_templates = FormRenderer(), DjangoTemplates()
    error = forms.ValidationError("%(what)s is <wrong>", params={"what": "x&y"})
    lists = [
        forms.utils.ErrorList(),
        forms.utils.ErrorList(["One.", HOSTILE, mark_safe("<b>safe</b>"), gettext_lazy("Lazy.")]),
        forms.utils.ErrorList([error], error_class="nonfield"),
        forms.utils.ErrorList(["One."], field_id='f"<id>'),
        forms.utils.ErrorList([42, datetime.date(2027, 3, 1)]),
    ]
    for errors in lists:
        for template in ERROR_LIST_TEMPLATES:
            expected = errors.render(template, renderer=django_templates)
            assert errors.render(template, renderer=ours) == expected
    assert forms.utils.ErrorList(renderer=ours).render() == ""
    assert 'id="f&quot;&lt;id&gt;_error"' in lists[3].render(renderer=ours)
    # A form's own errors, bound and invalid, through the portal's renderer.
    form = forms.Form(data={})
    form.fields["name"] = forms.CharField()
    form.renderer = ours
    assert str(form["name"].errors) == (
        '<ul class="errorlist" id="id_name_error"><li>This field is required.</li></ul>'
    )
    assert str(form.non_field_errors()) == ""


def test_an_error_list_with_a_context_of_its_own_is_djangos():
    errors = forms.utils.ErrorList(["One."])
    context = {"errors": errors, "error_class": "errorlist", "extra": "<x>"}
    for template in ERROR_LIST_TEMPLATES:
        expected = DjangoTemplates().render(template, context)
        assert FormRenderer().render(template, context) == expected


def test_the_templates_it_copies_are_still_djangos():
    """A Django upgrade that changes these templates, or an app that overrides one, must be
    noticed: the copy would then be wrong."""
    engine = DjangoTemplates().engine
    forms_templates = Path(django.__file__).parent / "forms" / "templates"
    copied = [
        *INPUT_TEMPLATES,
        TEXTAREA_TEMPLATE,
        SELECT_TEMPLATE,
        OPTION_TEMPLATE,
        *ERROR_LIST_TEMPLATES,
    ]
    for name in [*copied, "django/forms/widgets/attrs.html"]:
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
    assert (widgets / "select.html").read_text() == (
        '<select name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>'
        "{% for group_name, group_choices, group_index in widget.optgroups %}"
        "{% if group_name %}\n"
        '  <optgroup label="{{ group_name }}">{% endif %}{% for option in group_choices %}\n'
        "  {% include option.template_name with widget=option %}{% endfor %}"
        "{% if group_name %}\n"
        "  </optgroup>{% endif %}{% endfor %}\n"
        "</select>\n"
    )
    assert (widgets / "select_option.html").read_text() == (
        "<option value=\"{{ widget.value|stringformat:'s' }}\""
        '{% include "django/forms/widgets/attrs.html" %}>{{ widget.label }}</option>\n'
    )
    errors = forms_templates / "django/forms/errors/list"
    assert (errors / "default.html").read_text() == (
        '{% include "django/forms/errors/list/ul.html" %}'
    )
    assert (errors / "ul.html").read_text() == (
        '{% if errors %}<ul class="{{ error_class }}"{% if errors.field_id %}'
        ' id="{{ errors.field_id }}_error"{% endif %}>{% for error in errors %}<li>{{ error }}</li>'
        "{% endfor %}</ul>{% endif %}"
    )
    for name in INPUT_TEMPLATES - {"django/forms/widgets/input.html"}:
        source = (forms_templates / name).read_text()
        assert source == '{% include "django/forms/widgets/input.html" %}\n', name
