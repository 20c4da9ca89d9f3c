from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

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
