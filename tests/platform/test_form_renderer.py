"""itsm.form_renderer writes inputs and text areas exactly as Django's own widget
templates do, and itsm_forms' {% form_field %} lays a field out with its label, help
text and errors linked to the input."""

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.template import Context, Template
from django.utils.safestring import mark_safe

from itsm.form_renderer import FormRenderer


class Everything(forms.Form):
    text = forms.CharField(max_length=20, help_text="Help & more",
                           widget=forms.TextInput(attrs={"placeholder": 'Say "hi" <b>',
                                                         "data-on": True,
                                                         "data-off": False}))
    number = forms.IntegerField(required=False)
    email = forms.EmailField(required=False)
    when = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.DateTimeField(required=False)
    flag = forms.BooleanField(required=False)
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=True))
    search = forms.CharField(required=False)
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(required=False)


BOUND = {"text": "Tom & Jerry <x> 'q'", "number": "12", "email": "a@b.c",
         "when": "2026-11-24", "at": "2026-11-24 10:30", "flag": "on", "secret": "p<w>",
         "search": "", "hidden": '"quoted"', "notes": "line 1\n<script>&"}
INITIAL = {"text": mark_safe("<b>safe</b>"), "when": datetime.date(2026, 1, 2),
           "notes": "", "number": 0}


@pytest.mark.parametrize("make", [
    lambda renderer: Everything(BOUND, renderer=renderer),
    lambda renderer: Everything(initial=INITIAL, renderer=renderer),
    lambda renderer: Everything({}, renderer=renderer),  # errors, aria attributes
], ids=["bound", "initial", "invalid"])
def test_every_input_and_textarea_is_written_as_django_writes_it(make):
    stock, ours = make(DjangoTemplates()), make(FormRenderer())
    for name in Everything.base_fields:
        attrs = {"aria-describedby": "x_helptext", "aria-invalid": "true"}
        assert ours[name].as_widget(attrs=attrs) == stock[name].as_widget(attrs=attrs), name
        assert str(ours[name]) == str(stock[name]), name


def test_values_and_attributes_are_escaped():
    html = str(Everything(BOUND, renderer=FormRenderer())["text"])
    assert 'value="Tom &amp; Jerry &lt;x&gt; &#x27;q&#x27;"' in html
    assert 'placeholder="Say &quot;hi&quot; &lt;b&gt;"' in html
    assert " data-on" in html and "data-off" not in html
    notes = str(Everything(BOUND, renderer=FormRenderer())["notes"])
    assert notes == ('<textarea name="notes" cols="40" rows="2" id="id_notes">\n'
                     "line 1\n&lt;script&gt;&amp;</textarea>")


def test_other_widgets_still_use_their_templates():
    class Choice(forms.Form):
        pick = forms.ChoiceField(choices=[("a", "A & B")], widget=forms.RadioSelect)

    assert str(Choice(renderer=FormRenderer())["pick"]) == str(
        Choice(renderer=DjangoTemplates())["pick"])


def test_the_site_uses_it():
    assert isinstance(Everything().renderer, FormRenderer)


def render_field(form, name):
    return Template("{% load itsm_forms %}{% form_field field %}").render(
        Context({"field": form[name]}))


def test_form_field_links_label_help_and_errors_to_the_input():
    form = Everything({"text": ""})
    html = render_field(form, "text")
    assert '<div class="field field-invalid">' in html
    assert ('<label for="id_text">Text <span class="required" aria-hidden="true">*</span>'
            "</label>") in html
    assert 'aria-describedby="id_text_helptext id_text_error_1"' in html
    assert 'aria-invalid="true"' in html
    assert '<p class="help" id="id_text_helptext">Help &amp; more</p>' in html
    assert ('<p class="field-error" id="id_text_error_1" role="alert">'
            "This field is required.</p>") in html
    assert html.index("<label") < html.index("<input")


def test_a_checkbox_comes_before_its_label_and_a_valid_field_has_no_error_marks():
    form = Everything({"text": "ok", "flag": "on"})
    html = render_field(form, "flag")
    assert '<div class="field field-checkbox">' in html
    assert html.index("<input") < html.index('<label for="id_flag">Flag</label>')
    assert "aria-invalid" not in html and "field-error" not in html
    assert "required" not in html.split("<input", 1)[0]


def test_a_list_of_checkboxes_is_labelled_above_like_any_field():
    class Pick(forms.Form):
        roles = forms.MultipleChoiceField(choices=[("a", "A"), ("b", "B")],
                                          widget=forms.CheckboxSelectMultiple)

    html = render_field(Pick(), "roles")
    assert '<div class="field">' in html and "field-checkbox" not in html
    assert html.index("<label") < html.index('type="checkbox"')
