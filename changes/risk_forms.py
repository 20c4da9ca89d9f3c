"""Forms of the risk area: the questionnaire (a question and its answer rows), the change
settings, the risk questions on a change and the post-implementation review. The rules
are the services'; these forms only read what was typed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ChangeResult, ChangeSettings, RiskQuestion
from .risk import SETTINGS_FIELDS

BLANK_ANSWER_ROWS = 2


class RiskQuestionForm(forms.Form):
    text = forms.CharField(label=_("Question"), max_length=300)
    help_text = forms.CharField(label=_("Help"), max_length=300, required=False,
                                help_text=_("Shown under the question."))
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767, required=False,
                               help_text=_("Smaller first; empty puts it last."))
    is_active = forms.BooleanField(label=_("Asked on changes"), required=False, initial=True)


class RiskAnswerForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    text = forms.CharField(label=_("Answer"), max_length=200, required=False)
    weight = forms.IntegerField(label=_("Points"), min_value=0, max_value=100, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("text") and cleaned.get("weight") is None:
            self.add_error("weight", _("Give the points of this answer (0 to 100)."))
        return cleaned


RiskAnswerFormSet = forms.formset_factory(RiskAnswerForm, extra=0)


def answer_formset(question: RiskQuestion | None = None, data: Any = None) -> Any:
    """The answer rows: the question's answers, then blank rows to add more."""
    if data is not None:
        return RiskAnswerFormSet(data, prefix="answers")
    initial = [{"id": a.pk, "text": a.text, "weight": a.weight}
               for a in (question.answers.all() if question else [])]
    blanks = max(BLANK_ANSWER_ROWS, 2 - len(initial) + BLANK_ANSWER_ROWS)
    return RiskAnswerFormSet(initial=[*initial, *({} for _ in range(blanks))],
                             prefix="answers")


def answer_rows(formset: Any) -> list[dict[str, Any]]:
    """The rows typed, in order, for the services (empty rows are dropped there)."""
    return [{"id": row.cleaned_data.get("id"), "text": row.cleaned_data.get("text") or "",
             "weight": row.cleaned_data.get("weight"), "order": (index + 1) * 10}
            for index, row in enumerate(formset.forms) if row.cleaned_data]


class ChangeSettingsForm(forms.ModelForm):
    class Meta:
        model = ChangeSettings
        fields = SETTINGS_FIELDS


class RiskAssessForm(forms.Form):
    """One radio group per active question, named ``question_<id>`` like the service's
    errors."""

    def __init__(self, questions: Iterable[RiskQuestion], *args: Any,
                 current: Mapping[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = current or {}
        for question in questions:
            choices = [(answer.pk, ngettext("%(text)s (%(n)d point)", "%(text)s (%(n)d points)",
                                            answer.weight) % {"text": answer.text,
                                                              "n": answer.weight})
                       for answer in question.answers.all()]
            self.fields[f"question_{question.pk}"] = forms.TypedChoiceField(
                label=question.text, help_text=question.help_text, choices=choices,
                coerce=int, widget=forms.RadioSelect, initial=current.get(question.pk),
                error_messages={"required": _("Answer this question.")})

    def answers(self) -> dict[int, int]:
        return {int(name.removeprefix("question_")): value
                for name, value in self.cleaned_data.items()
                if name.startswith("question_") and value not in (None, "")}


def posted_answers(data: Mapping[str, Any]) -> dict[int, int]:
    """question_<id> → answer id from a (partial) form post, for the live preview."""
    found = {}
    for name, value in data.items():
        if name.startswith("question_") and name[9:].isdigit() and str(value).isdigit():
            found[int(name[9:])] = int(value)
    return found


class ChangeReviewForm(forms.Form):
    result = forms.ChoiceField(label=_("Result"),
                               choices=[("", "—"), *ChangeResult.choices], required=False)
    deviations = forms.CharField(label=_("Deviations from the plan"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    lessons = forms.CharField(label=_("Lessons learned"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))
    complete = forms.BooleanField(
        label=_("The review is complete"), required=False,
        help_text=_("A completed review sets the change's result; afterwards only change "
                    "managers may edit it."))
