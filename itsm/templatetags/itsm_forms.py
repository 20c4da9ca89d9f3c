"""``{% form_field field %}``: a form field as every desk and portal form shows it (label,
input, help text, errors), written in Python: an included template per field was most of
the time of pages with a dozen fields, such as the incident queue's filter bar and bulk
form (bench/incidents.py)."""

from django import forms, template
from django.forms import BoundField
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def field_widget(field: BoundField) -> SafeString:
    """The field's input, pointing at its help text and errors (``aria-describedby``) so
    a screen reader reads the error whenever the field has focus."""
    ids = []
    if field.help_text:
        ids.append(f"{field.id_for_label}_helptext")
    ids += [f"{field.id_for_label}_error_{n}" for n in range(1, len(field.errors) + 1)]
    attrs = {"aria-describedby": " ".join(ids)} if ids else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.simple_tag
def form_field(field: BoundField) -> SafeString:
    """The field in its ``<div class="field">``: the label before the input (after it
    for a checkbox), a required mark, the help text and each error, linked to the input
    by id."""
    key = conditional_escape(field.id_for_label)
    errors = field.errors
    # A single checkbox (a list of them, CheckboxSelectMultiple, is labelled above).
    checkbox = isinstance(field.field.widget, forms.CheckboxInput)
    classes = "field" + (" field-invalid" if errors else "") + (
        " field-checkbox" if checkbox else "")
    label = conditional_escape(field.label)
    widget = field_widget(field)
    if checkbox:
        body = f'{widget} <label for="{key}">{label}</label>'
    else:
        required = (' <span class="required" aria-hidden="true">*</span>'
                    if field.field.required else "")
        body = f'<label for="{key}">{label}{required}</label>\n    {widget}'
    help_text = (f'<p class="help" id="{key}_helptext">{conditional_escape(field.help_text)}'
                 f"</p>" if field.help_text else "")
    shown_errors = "".join(
        f'<p class="field-error" id="{key}_error_{number}" role="alert">'
        f"{conditional_escape(error)}</p>"
        for number, error in enumerate(errors, start=1))
    return mark_safe(f'<div class="{classes}">\n    {body}\n  {help_text}{shown_errors}\n'
                     f"</div>\n")
