"""itsm.widgets: the drop-down rendered in Python writes what Django's template-based
Select writes, and lazy choices are read once, when first needed."""

import re

from django import forms
from django.utils.safestring import mark_safe

from itsm.widgets import LazyChoices, QuickSelect

CHOICES = [
    ("", "—"),
    (1, "Tom & Jerry <cartoon>"),
    ("Group \"A\"", [(2, "Two"), (3, mark_safe("<b>Three</b>"))]),
    (4, 'Say "hi"'),
]


def tags(html: str) -> str:
    # Django's template puts newlines and indentation between tags; browsers ignore them.
    return re.sub(r">\s+<", "><", str(html)).strip()


def both(field: forms.Field, value, **attrs):
    class Form(forms.Form):
        choice = field

    form = Form({"choice": value} if value is not None else None)
    django_html = form["choice"].as_widget(attrs=attrs)
    form.fields["choice"].widget = QuickSelect(choices=form.fields["choice"].choices)
    form.fields["choice"].widget.allow_multiple_selected = isinstance(
        field.widget, forms.SelectMultiple)
    return tags(django_html), tags(form["choice"].as_widget(attrs=attrs))


def test_the_markup_is_django_s_with_groups_escaping_and_the_selected_option():
    django_html, quick = both(forms.ChoiceField(choices=CHOICES), "3",
                              **{"hx-get": "/x?a=1&b=2", "data-flag": True})
    assert quick == django_html
    assert '<option value="3" selected><b>Three</b></option>' in quick
    assert "Tom &amp; Jerry &lt;cartoon&gt;" in quick
    assert 'hx-get="/x?a=1&amp;b=2" data-flag' in quick


def test_a_required_field_and_no_value():
    django_html, quick = both(forms.ChoiceField(choices=CHOICES, required=True), None)
    assert quick == django_html and " required" in quick
    assert quick.count(" selected") == 1 and '<option value="" selected>' in quick


def test_several_selected_values():
    django_html, quick = both(forms.MultipleChoiceField(choices=CHOICES), ["1", "4"])
    assert quick == django_html and quick.count(" selected") == 2 and " multiple" in quick


def test_lazy_choices_are_read_once_and_only_when_needed():
    reads = []

    def read():
        reads.append(1)
        return [(1, "One")]

    widget = QuickSelect()
    widget.choices = LazyChoices(read)
    assert reads == []
    html = widget.render("n", 1, attrs={"required": True})
    widget.render("n", None)
    assert reads == [1] and '<option value="1" selected>One</option>' in html
