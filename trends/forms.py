"""Forms of the trends page: accepting (an optional title for the problem) and dismissing
(a reason). They shape input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Proposal
from .services import REASON_MAX

TITLE_MAX = Proposal._meta.get_field("title").max_length


class AcceptForm(forms.Form):
    title = forms.CharField(label=_("Problem title"), max_length=TITLE_MAX, required=False,
                            help_text=_("Leave empty to use the suggested title."))


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Why dismiss it?"), max_length=REASON_MAX,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": _("Say why the proposal is "
                                                           "dismissed.")})
