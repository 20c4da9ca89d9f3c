"""Desk pages of the known error database: the searchable list, the "Known errors that may
match" panel of the new-incident form and of the incident page (htmx, as the agent types
or loads the page) and linking an incident to a known error, which applies its
workaround. The ranking is ``problems.kedb``; the link is
``problems.services.problem_link_incident``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from cmdb.pickers import CI, SERVICE, CIPickerField
from desk.access import DeskAccessMixin
from incidents.models import OPEN_STATES as INCIDENT_OPEN_STATES
from incidents.models import Category, Incident
from itsm.errors import DomainError, NotPermitted

from . import kedb
from .models import Problem, ProblemIncident

SEARCH_LIMIT = 50


class CategoryField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return f"{obj.parent.name} › {obj.name}" if obj.parent_id else obj.name


def _categories() -> Any:
    return Category.objects.filter(is_active=True).select_related("parent").order_by(
        "parent__order", "parent__name", "order", "name")


class KnownErrorSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder":
                                                      gettext_lazy("Symptom, error text, "
                                                                   "workaround…")}))
    ci = CIPickerField(kind=CI, label=gettext_lazy("Configuration item"), required=False,
                       help_text="")
    service = CIPickerField(kind=SERVICE, label=gettext_lazy("Service"), required=False,
                            help_text="")
    category = CategoryField(label=gettext_lazy("Category"), required=False, empty_label="—",
                             queryset=Category.objects.none())
    include_closed = forms.BooleanField(label=gettext_lazy("Include closed problems"),
                                        required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = _categories()


class SuggestForm(forms.Form):
    """What the panel searches with: the new-incident form's values as they are typed.
    Fields that do not validate are left out rather than failing the panel."""

    title = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False)
    service = CIPickerField(kind=SERVICE, required=False)
    ci = CIPickerField(kind=CI, required=False)
    category = forms.ModelChoiceField(required=False, queryset=Category.objects.all())
    subcategory = forms.ModelChoiceField(required=False, queryset=Category.objects.all())
    known_error = forms.IntegerField(required=False)


def _valid(form: forms.Form) -> dict[str, Any]:
    form.is_valid()
    return form.cleaned_data


class KnownErrorListView(DeskAccessMixin, View):
    """``/desk/problems/known-errors/``: search by text, CI, service and category; the
    results alone for htmx (as the person types)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = KnownErrorSearchForm(request.GET or None)
        values = _valid(form) if form.is_bound else {}
        invalid = form.is_bound and bool(form.errors)
        results = [] if invalid else kedb.known_errors_search(
            values.get("q") or "", ci=values.get("ci"), service=values.get("service"),
            category=values.get("category"), include_closed=bool(values.get("include_closed")),
            limit=SEARCH_LIMIT)
        context = {"form": form, "results": results, "limit": SEARCH_LIMIT,
                   "searched": bool(form.is_bound and any(
                       values.get(name) for name in ("q", "ci", "service", "category")))}
        template = "problems/_known_error_results.html" if request.htmx else \
            "problems/known_errors.html"
        return render(request, template, context)


def suggestions_context(data: QueryDict) -> dict[str, Any]:
    """The new-incident form's "Known errors that may match" panel for the values typed so
    far, with the known error chosen (``known_error``) kept on screen."""
    values = _valid(SuggestForm(data))
    title = (values.get("title") or "").strip()
    category = values.get("subcategory") or values.get("category")
    suggestions = kedb.known_error_suggestions(
        title=title, description=values.get("description") or "", ci=values.get("ci"),
        service=values.get("service"), category=category) if (
        title or values.get("ci") or values.get("service")) else []
    chosen = values.get("known_error")
    kept = None
    if chosen and chosen not in {s.problem.pk for s in suggestions}:
        kept = kedb.known_errors().filter(pk=chosen).first()
    # Named apart from the duplicates panel's, which shares the new-incident page.
    return {"ke_searched": bool(title or values.get("ci") or values.get("service")),
            "ke_suggestions": suggestions, "ke_kept": kept, "ke_chosen": chosen}


class KnownErrorSuggestView(DeskAccessMixin, View):
    """The panel of the new-incident form (htmx, as the agent types or picks the CI,
    service or category). Its radio buttons belong to the incident form: the known error
    chosen is linked once the incident is logged."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "problems/_known_error_suggestions.html",
                      suggestions_context(request.GET))


def link_chosen_known_error(*, actor: Any, incident: Incident, data: QueryDict) -> Problem | None:
    """After the new-incident form logged ``incident``: link it to the known error the
    agent chose in the panel (``known_error``), applying its workaround. Called inside
    the create's transaction, so a refused link logs nothing."""
    value = (data.get("known_error") or "").strip()
    if not value:
        return None
    return kedb.known_error_link(actor=actor, incident=incident, known_error=value)


def _incident(key: str) -> Incident:
    lookup = {"pk": int(key)} if key.isdigit() else {"number": key.upper()}
    incident = Incident.objects.select_related("ci", "service").filter(**lookup).first()
    if incident is None:
        raise Http404(_("No such incident."))
    return incident


class IncidentKnownErrorsView(DeskAccessMixin, View):
    """The incident page's box: the known errors it is linked to, with their workaround,
    and, while it is open, those that may match with a "Link to this known error"
    button."""

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident(key)
        linked = list(Problem.objects.filter(
            pk__in=ProblemIncident.objects.filter(incident=incident).values("problem_id"))
            .order_by("-known_error", "-pk"))
        is_open = incident.state in INCIDENT_OPEN_STATES
        suggestions = kedb.known_error_suggestions(
            title=incident.title, description=incident.description, ci=incident.ci_id,
            service=incident.service_id,
            category=incident.subcategory_id or incident.category_id,
            exclude=incident) if is_open else []
        return render(request, "problems/_incident_known_errors.html", {
            "incident": incident, "linked": linked, "suggestions": suggestions,
            "is_open": is_open})


class KnownErrorLinkView(DeskAccessMixin, View):
    """POST ``incident`` (its number): link it to this known error; back to the
    incident."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        problem = get_object_or_404(Problem, pk=pk)
        incident = _incident(str(request.POST.get("incident", "")).strip() or "0")
        try:
            kedb.known_error_link(actor=request.user, incident=incident,
                                  known_error=problem)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(incident)s linked to known error %(problem)s; its "
                                        "workaround is on the incident.")
                             % {"incident": incident.number, "problem": problem.number})
        return redirect("incidents:detail", key=incident.number)
