"""The staff desk shell: home, people, teams and the audit log."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts import selectors, services
from accounts.filtersets import PersonFilterSet, TeamFilterSet
from accounts.forms import AddMemberForm, PersonForm, TeamForm
from accounts.models import Team
from accounts.views import ProfileView
from audit.filtersets import AuditEntryFilterSet
from audit.models import AuditAction, AuditEntry
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from .access import DeskAccessMixin

User = get_user_model()
PAGE_SIZE = 50
AUTH_ACTIONS = (AuditAction.LOGIN, AuditAction.LOGOUT, AuditAction.LOGIN_FAILED)


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _querystring_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


class HomeView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        my_teams = selectors.teams().filter(memberships__user=request.user)
        recent = AuditEntry.objects.filter(actor=request.user).exclude(
            action__in=AUTH_ACTIONS).select_related("content_type")[:10]
        from incidents.filtersets import QUEUES

        return render(request, "desk/home.html", {
            "incident_queues": QUEUES.items(),
            "my_teams": my_teams,
            "recent": recent,
            "service_desk": selectors.service_desk_team(),
        })


class DeskProfileView(DeskAccessMixin, ProfileView):
    layout = "desk"


# --- People ---------------------------------------------------------------------------

class PeopleListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = PersonFilterSet(request.GET or None,
                                    queryset=selectors.people().order_by("first_name", "id"))
        if filterset.is_bound and not filterset.is_valid():
            people = User.objects.none()
            status = 400
        else:
            people, status = filterset.qs.distinct(), 200
        context = {"filter": filterset, "page": _page(request, people),
                   "querystring": _querystring_without_page(request)}
        template = "desk/people/_rows.html" if request.htmx else "desk/people/list.html"
        return render(request, template, context, status=status)


class PersonDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(selectors.people(), pk=pk)
        history = []
        if request.user.has_perm("audit.view_auditentry"):
            history = AuditEntry.objects.filter(
                content_type__app_label="auth", content_type__model="user", object_id=str(pk)
            )[:20]
        return render(request, "desk/people/detail.html", {
            "person": person, "profile": services.profile_of(person),
            "roles": services.user_roles(person), "history": history,
        })


class PersonFormView(DeskAccessMixin, View):
    """Create (no pk) or edit a person: administrators only."""

    permission_required = "accounts.manage_users"

    def _initial(self, person: Any) -> dict[str, Any]:
        if person is None:
            return {"roles": ["requester"], "time_zone": "UTC", "is_active": True}
        profile = services.profile_of(person)
        return {
            "username": person.username, "first_name": person.first_name,
            "last_name": person.last_name, "email": person.email,
            "is_active": person.is_active, "roles": services.user_roles(person),
            **{name: getattr(profile, name) for name in (
                "display_name", "job_title", "department", "phone", "location", "time_zone",
                "vip")},
            "manager": profile.manager_id,
        }

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        person = get_object_or_404(User, pk=pk) if pk else None
        form = PersonForm(initial=self._initial(person))
        return render(request, "desk/people/form.html", {"form": form, "person": person})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        person = get_object_or_404(User, pk=pk) if pk else None
        form = PersonForm(request.POST)
        if person is not None:
            form.fields["username"].disabled = True
            form.fields["username"].initial = person.username
        if form.is_valid():
            data = dict(form.cleaned_data)
            roles = data.pop("roles")
            username = data.pop("username")
            password = data.pop("password")
            try:
                with transaction.atomic():
                    if person is None:
                        person = services.user_create(actor=request.user, username=username,
                                                      roles=roles, password=password or None,
                                                      **data)
                        messages.success(request, _("%(name)s was added.") % {
                            "name": username})
                    else:
                        services.user_update(actor=request.user, user=person, **data)
                        services.user_set_roles(actor=request.user, user=person, roles=roles)
                        if password:
                            services.user_set_password(actor=request.user, user=person,
                                                       password=password)
                        messages.success(request, _("Changes saved."))
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("desk:person_detail", pk=person.pk)
        return render(request, "desk/people/form.html", {"form": form, "person": person},
                      status=400)


# --- Teams ----------------------------------------------------------------------------

class TeamListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = TeamFilterSet(request.GET or None, queryset=selectors.teams())
        valid = not filterset.is_bound or filterset.is_valid()
        teams = filterset.qs if valid else Team.objects.none()
        return render(request, "desk/teams/list.html", {"filter": filterset, "teams": teams},
                      status=200 if valid else 400)


def _can_manage_members(user: Any, team: Team) -> bool:
    return user.has_perm("accounts.manage_teams") or team.manager_id == user.pk


class TeamDetailView(DeskAccessMixin, View):
    def _render(self, request: HttpRequest, team: Team, form: AddMemberForm | None = None,
                status: int = 200) -> HttpResponse:
        context = {
            "team": team, "members": selectors.team_members(team),
            "can_manage_members": _can_manage_members(request.user, team),
            "add_form": form or AddMemberForm(),
        }
        template = "desk/teams/_members.html" if request.htmx else "desk/teams/detail.html"
        return render(request, template, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, get_object_or_404(selectors.teams(), pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Add or remove a member (htmx swaps the member list in place)."""
        team = get_object_or_404(selectors.teams(), pk=pk)
        if not _can_manage_members(request.user, team):
            raise PermissionDenied
        if "remove" in request.POST:
            person = get_object_or_404(User, pk=request.POST["remove"])
            try:
                services.team_remove_member(actor=request.user, team=team, user=person)
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _("%(name)s left %(team)s.") % {
                    "name": services.profile_of(person).name, "team": team.name})
            return self._render(request, team)
        form = AddMemberForm(request.POST)
        if form.is_valid():
            try:
                services.team_add_member(actor=request.user, team=team,
                                         user=form.cleaned_data["user"])
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(name)s joined %(team)s.") % {
                    "name": services.profile_of(form.cleaned_data["user"]).name,
                    "team": team.name})
                return self._render(request, team)
        return self._render(request, team, form=form, status=400)


class TeamFormView(DeskAccessMixin, View):
    permission_required = "accounts.manage_teams"

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        team = get_object_or_404(Team, pk=pk) if pk else None
        return render(request, "desk/teams/form.html",
                      {"form": TeamForm(instance=team), "team": team})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        team = get_object_or_404(Team, pk=pk) if pk else None
        form = TeamForm(request.POST, instance=Team() if team is None else Team(pk=team.pk))
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in TeamForm.Meta.fields}
            try:
                if team is None:
                    team = services.team_create(actor=request.user, **data)
                    messages.success(request, _("Team %(name)s created.") % {"name": team.name})
                else:
                    team = services.team_update(actor=request.user, team=team, **data)
                    messages.success(request, _("Changes saved."))
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("desk:team_detail", pk=team.pk)
        return render(request, "desk/teams/form.html", {"form": form, "team": team}, status=400)


# --- Audit log ------------------------------------------------------------------------

class AuditLogView(DeskAccessMixin, View):
    """Newest first, paged by id (``?before=<id>``): the log only grows, so no page counts
    it."""

    permission_required = "audit.view_auditentry"

    def get(self, request: HttpRequest) -> HttpResponse:
        params = request.GET.copy()
        before = params.pop("before", [None])[-1]
        filterset = AuditEntryFilterSet(
            params or None, queryset=AuditEntry.objects.select_related("content_type"))
        valid = not filterset.is_bound or filterset.is_valid()
        entries = filterset.qs.order_by("-id") if valid else AuditEntry.objects.none()
        if before is not None:
            if not before.isdigit():
                return render(request, "errors/400.html", status=400)
            entries = entries.filter(id__lt=int(before))
        window = list(entries[: PAGE_SIZE + 1])
        older = window[PAGE_SIZE - 1].pk if len(window) > PAGE_SIZE else None
        return render(request, "desk/audit/list.html", {
            "filter": filterset, "entries": window[:PAGE_SIZE], "older": older,
            "is_first": before is None, "querystring": params.urlencode(),
        }, status=200 if valid else 400)
