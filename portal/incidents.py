"""The portal side of incidents: report one, follow your own (and, for managers, their
reports' and their team members'), comment, confirm the resolution or reopen. Scoped to
the person asking: any other incident is a 404."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import TeamMembership
from cmdb.models import ConfigurationItem
from incidents import selectors, services
from incidents.models import Channel, Incident, IncidentState
from incidents.similar import similar_open_incidents
from itsm.errors import DomainError
from itsm.forms import add_domain_error
from tickets.models import Watcher
from tickets.services import attachment_add, ticket_activity_for

PAGE_SIZE = 25


class ReportForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("What is wrong?"), max_length=200,
                            help_text=gettext_lazy("A short summary, e.g. “Outlook will not "
                                                   "open”."))
    description = forms.CharField(label=gettext_lazy("Details"), widget=forms.Textarea(
        attrs={"rows": 5}), required=False, help_text=gettext_lazy(
        "What you were doing, what you saw, since when."))
    service = forms.ModelChoiceField(
        label=gettext_lazy("Affected service"), required=False,
        queryset=ConfigurationItem.objects.filter(ci_class__is_service=True,
                                                  status="operational").order_by("name"),
        empty_label=gettext_lazy("I don't know"))
    attachment = forms.FileField(label=gettext_lazy("Screenshot or file"), required=False)


class KnownForm(forms.Form):
    """What the "Is this already known?" panel searches with, as the person types."""

    title = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False)
    service = forms.ModelChoiceField(
        required=False, queryset=ConfigurationItem.objects.filter(ci_class__is_service=True))


class CommentForm(forms.Form):
    body = forms.CharField(label=gettext_lazy("Add a comment"),
                           widget=forms.Textarea(attrs={"rows": 3}))


def _mine(user: Any) -> QuerySet[Incident]:
    """Your incidents (reported, logged for you, or watched), your direct reports', and
    those of the members of teams you manage. Never the desk-wide view, even for desk
    staff: the portal is personal."""
    watched = Watcher.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), user=user
    ).values("object_id")
    managed = TeamMembership.objects.filter(team__manager=user).values("user_id")
    return selectors.incidents().filter(
        Q(requester=user) | Q(opened_by=user) | Q(pk__in=watched)
        | Q(requester__profile__manager=user) | Q(requester__in=managed))


def _get(user: Any, pk: int) -> Incident:
    incident = _mine(user).filter(pk=pk).first()
    if incident is None:
        raise Http404
    return incident


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    items = _mine(request.user).order_by("-created_at", "-id")
    open_items = items.exclude(state__in=(IncidentState.CLOSED, IncidentState.CANCELLED))
    return render(request, "portal/incidents/list.html", {
        "open_incidents": open_items[:PAGE_SIZE],
        "closed_incidents": items.filter(state__in=(IncidentState.CLOSED,
                                                    IncidentState.CANCELLED))[:PAGE_SIZE],
    })


@login_required
def incident_report(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                incident = services.incident_create(
                    actor=request.user, title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    service=form.cleaned_data["service"], channel=Channel.PORTAL)
                if form.cleaned_data["attachment"]:
                    attachment_add(ticket=incident, actor=request.user,
                                   upload=form.cleaned_data["attachment"])
        except DomainError as error:
            if "file" in error.fields:
                error.fields["attachment"] = error.fields.pop("file")
            add_domain_error(form, error)
        else:
            messages.success(request, _("Thank you: %(number)s is with the service desk.")
                             % {"number": incident.number})
            return redirect("portal:incident_detail", pk=incident.pk)
    known = _known(request.user, request.POST) if form.errors else {}
    return render(request, "portal/incidents/report.html", {"form": form, **known},
                  status=400 if form.errors else 200)


def known_to_you(user: Any) -> Q:
    """Which incidents the portal may suggest while someone reports: their own, and
    ongoing major incidents (which the portal announces to everyone anyway). Never other
    people's ordinary incidents: their titles and details are theirs (a name, a health
    matter, a salary figure), and suggesting them would show them to anyone who types
    similar words."""
    return Q(requester=user) | Q(is_major=True)


def _known(user: Any, data: Any) -> dict[str, Any]:
    form = KnownForm(data)
    form.is_valid()  # a field that does not validate is left out of the search
    values = form.cleaned_data
    title = (values.get("title") or "").strip()
    suggestions = similar_open_incidents(
        title=title, description=values.get("description") or "",
        service=values.get("service"), within=known_to_you(user),
        include_children=True) if title else []
    return {"suggestions": suggestions}


@login_required
def incident_known(request: HttpRequest) -> HttpResponse:
    """"Is this already known?" on the report form (htmx, as the person types): your own
    similar open incidents, and major incidents on the same service or with similar
    text, so you can follow the existing one instead of reporting again."""
    return render(request, "portal/incidents/_known.html", _known(request.user, request.GET))


@login_required
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get(request.user, pk)
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.incident_respond(actor=request.user, incident=incident,
                                      body=form.cleaned_data["body"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            reopened = incident.state == IncidentState.RESOLVED and Incident.objects.filter(
                pk=incident.pk, state=IncidentState.IN_PROGRESS).exists()
            messages.success(request, _("Your comment was added and the incident is open "
                                        "again; the service desk has been told.") if reopened
                             else _("Your comment was added."))
            return redirect("portal:incident_detail", pk=incident.pk)
    return render(request, "portal/incidents/detail.html", {
        "incident": incident, "form": form,
        "activity": ticket_activity_for(incident, request.user),
        "attachments": incident.attachments.all(),
        "is_caller": incident.requester_id == request.user.pk,
        "can_answer": incident.state == IncidentState.RESOLVED
        and incident.requester_id == request.user.pk,
        "is_closed": incident.state in (IncidentState.CLOSED, IncidentState.CANCELLED),
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def incident_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The caller confirms the resolution (closes) or says it is not fixed (reopens)."""
    incident = _get(request.user, pk)
    fixed = request.POST.get("answer") == "fixed"
    note = request.POST.get("note", "").strip()
    try:
        services.incident_transition(
            actor=request.user, incident=incident,
            to_state=IncidentState.CLOSED if fixed else IncidentState.IN_PROGRESS,
            note=note or (_("Confirmed fixed by the caller.") if fixed
                          else _("The caller says it is not fixed.")))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Thanks, the incident is closed.") if fixed else _(
            "The incident is open again; the service desk has been told."))
    return redirect("portal:incident_detail", pk=incident.pk)
