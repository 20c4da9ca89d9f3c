from django import forms

from itsm.errors import DomainError


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the form: at the fields it names, else on top."""
    placed = False
    for name, messages in error.fields.items():
        if name in form.fields:
            for message in messages:
                form.add_error(name, message)
            placed = True
    field_messages = {m for messages in error.fields.values() for m in messages}
    if not placed or error.message not in field_messages:
        form.add_error(None, error.message)
