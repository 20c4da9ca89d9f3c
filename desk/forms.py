"""Desk forms that every list shares."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class SavedViewForm(forms.Form):
    """Save the list's current filters (``query``) under a name. The service checks the
    name, the list and the filters; its refusals show at the field they name."""

    list_key = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=100)
    shared = forms.BooleanField(label=_("Share with the desk"), required=False)
    query = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its own ids: it sits on list pages next to the filter form's fields.
        kwargs.setdefault("auto_id", "saved_view_%s")
        super().__init__(*args, **kwargs)
