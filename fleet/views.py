"""Desk pages of the fleet: the devices list, a device's page (live snapshot with
"refresh now", inventory, revoke), fleet-wide live questions streaming their answers, and
enrolment (groups and their secrets, each secret shown once). Views read through
selectors and write through services; refusals are shown at the field they name."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import live, selectors, services
from .filtersets import DeviceFilterSet
from .forms import EnrolmentGroupForm, EnrolmentSecretForm, LiveQueryForm
from .models import Agent, EnrolmentGroup, EnrolmentSecret, Job, JobKind, JobState, LiveQuery

PAGE_SIZE = 50
QUESTIONS_SHOWN = 25
FILTER_BAR = ("q", "online", "group", "os", "tag", "version")
VIEW = ("accounts.access_desk", services.VIEW)
MANAGE = ("accounts.access_desk", services.MANAGE)


class FleetViewMixin(DeskAccessMixin):
    permission_required = VIEW


class FleetManageMixin(DeskAccessMixin):
    permission_required = MANAGE


# --- Devices list ---------------------------------------------------------------------

def _encode_cursor(agent: Agent) -> str:
    raw = json.dumps([agent.hostname, str(agent.pk)], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[str, uuid.UUID]:
    try:
        hostname, pk = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return str(hostname), uuid.UUID(str(pk))
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("bad cursor") from error


def _list_params(request: HttpRequest) -> tuple[QueryDict, str | None]:
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        kept = [value for value in values if value.strip()]
        if kept:
            params.setlist(key, kept)
    after = params.pop("after", [None])[-1]
    return params, after


class FilterSelect(forms.SelectMultiple):
    """A drop-down of one value for a filter that accepts several (the tag filter)."""

    allow_multiple_selected = False

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [v for v in super().value_from_datadict(data, files, name) if v]


def _compact(filterset: DeviceFilterSet) -> None:
    """Drop-downs with an "Any" choice for the filter bar (after validation: only the
    rendering changes). ``iter()``: a ModelChoiceIterator's len() would COUNT."""
    form = filterset.form
    form.fields["online"].widget = forms.Select(choices=[
        ("", _("Any")), ("true", _("Online")), ("false", _("Offline"))])
    form.fields["group"].widget = forms.Select(choices=[
        ("", _("Any")), *((v, label) for v, label in iter(form.fields["group"].choices) if v)])
    form.fields["tag"].widget = FilterSelect(choices=[
        ("", _("Any")), *((v, label) for v, label in iter(form.fields["tag"].choices) if v)])
    form.fields["q"].help_text = ""
    form.fields["q"].widget.input_type = "search"
    form.fields["q"].widget.attrs["placeholder"] = _("Hostname, device, serial or IP")


def _devices_context(params: QueryDict, after: str | None) -> tuple[dict[str, Any], int]:
    filterset = DeviceFilterSet(params or None, queryset=selectors.devices())
    valid = not filterset.is_bound or filterset.is_valid()
    status = 200 if valid else 400
    items: QuerySet[Agent] = filterset.qs if valid else Agent.objects.none()
    _compact(filterset)
    items = items.order_by("hostname", "id")
    if after:
        try:
            hostname, pk = _decode_cursor(after)
        except ValueError:
            items, status = Agent.objects.none(), 400
        else:
            items = items.filter(Q(hostname__gt=hostname) | Q(hostname=hostname, pk__gt=pk))
    window = list(items[:PAGE_SIZE + 1])
    query = params.urlencode()
    return {
        "filter": filterset,
        "filter_fields": [filterset.form[name] for name in FILTER_BAR],
        "devices": window[:PAGE_SIZE],
        "next_cursor": _encode_cursor(window[PAGE_SIZE - 1]) if len(window) > PAGE_SIZE
        else None,
        "is_first": not after,
        "query": query,
    }, status


class DeviceListView(FleetViewMixin, View):
    """Keyset-paged by (hostname, id): no page counts the fleet."""

    def get(self, request: HttpRequest) -> HttpResponse:
        params, after = _list_params(request)
        context, status = _devices_context(params, after)
        template = "fleet/_device_list_body.html" if request.htmx else "fleet/device_list.html"
        return render(request, template, context, status=status)


# --- Device page ----------------------------------------------------------------------

def _agent_or_404(pk: uuid.UUID) -> Agent:
    return get_object_or_404(selectors.devices(), pk=pk)


# Refusals whose cause is usually the device's clock, not its owner's policy.
CLOCK_REASONS = ("expired", "not_yet_valid")


def _snapshot_context(agent: Agent) -> dict[str, Any]:
    inventory = selectors.device_inventory(agent)
    waiting = live.snapshot_waiting(inventory)
    requested = inventory.snapshot_requested_at if inventory else None
    taken = inventory.snapshot_at if inventory else None
    # The agent answered the request with a refusal or a failure: say so, stop waiting.
    answered = Job.objects.filter(
        agent=agent, kind=JobKind.SNAPSHOT, created_at__gte=requested,
        state__in=(JobState.REFUSED, JobState.FAILED)).order_by("-created_at").first() \
        if requested and waiting else None
    if answered is not None:
        waiting = False
    return {"agent": agent, "inventory": inventory,
            "snapshot": selectors.snapshot_view(inventory), "waiting": waiting,
            "refused": answered,
            "clock_refusal": bool(answered and answered.refusal_reason in CLOCK_REASONS),
            # asked, given up waiting, and nothing newer than the request arrived
            "timed_out": bool(requested and not waiting and answered is None
                              and (taken is None or taken < requested))}


class DeviceDetailView(FleetViewMixin, View):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        agent = _agent_or_404(pk)
        context = _snapshot_context(agent)
        if request.GET.get("part") == "snapshot":
            return render(request, "fleet/_snapshot.html", context)
        context["summary"] = selectors.inventory_summary(context["inventory"])
        context["can_manage"] = request.user.has_perm(services.MANAGE)
        return render(request, "fleet/device_detail.html", context)


class DeviceRefreshView(FleetViewMixin, View):
    """"Refresh now": ask the agent for a live snapshot; the section polls for it."""

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        agent = _agent_or_404(pk)
        try:
            live.snapshot_request(actor=request.user, agent=agent)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            if request.htmx:
                context = {**_snapshot_context(agent), "error": error.message}
                return render(request, "fleet/_snapshot.html", context, status=400)
            messages.error(request, error.message)
            return redirect("fleet:device_detail", pk=agent.pk)
        if request.htmx:
            return render(request, "fleet/_snapshot.html", _snapshot_context(agent))
        messages.success(request, _("Snapshot requested from %(name)s.") % {"name": agent})
        return redirect("fleet:device_detail", pk=agent.pk)


class DeviceRevokeView(FleetManageMixin, View):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        agent = _agent_or_404(pk)
        try:
            services.agent_revoke(actor=request.user, agent=agent)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(name)s is revoked: its agent is cut off.")
                             % {"name": agent})
        return redirect("fleet:device_detail", pk=agent.pk)


# --- Live questions -------------------------------------------------------------------

class QuestionListView(FleetViewMixin, View):
    def _render(self, request: HttpRequest, form: LiveQueryForm,
                status: int = 200) -> HttpResponse:
        questions = selectors.live_queries().order_by("-created_at", "-id")[:QUESTIONS_SHOWN]
        return render(request, "fleet/question_list.html", {
            "form": form, "questions": questions, "now": timezone.now()}, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"kind": request.GET.get("kind")} if request.GET.get("kind") else None
        return self._render(request, LiveQueryForm(initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LiveQueryForm(request.POST)
        if form.is_valid():
            try:
                query = live.live_query_create(actor=request.user,
                                               kind=form.cleaned_data["kind"],
                                               params=form.params())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("fleet:question_detail", pk=query.pk)
        return self._render(request, form, status=400)


class QuestionDetailView(FleetViewMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        query = get_object_or_404(LiveQuery.objects.select_related("asked_by"), pk=pk)
        context = {"query": query, "progress": live.live_query_progress(query)}
        if request.GET.get("part") == "progress":
            return render(request, "fleet/_progress.html", context)
        return render(request, "fleet/question_detail.html", context)


# --- Enrolment --------------------------------------------------------------------------

def _enrolment_context(group_form: EnrolmentGroupForm | None = None) -> dict[str, Any]:
    now = timezone.now()
    groups = list(selectors.enrolment_groups())
    for group in groups:
        for secret in group.secrets.all():
            secret.state = selectors.secret_state(secret, now)  # type: ignore[attr-defined]
    return {"groups": groups, "group_form": group_form or EnrolmentGroupForm()}


class EnrolmentView(FleetManageMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "fleet/enrolment.html", _enrolment_context())


class GroupCreateView(FleetManageMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = EnrolmentGroupForm(request.POST)
        if form.is_valid():
            from cmdb.services import tags_get_or_create

            try:
                group = services.enrolment_group_create(
                    actor=request.user, name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    owner_team=form.cleaned_data["owner_team"],
                    tags=tags_get_or_create(form.tag_names()))
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Group %(name)s created. Make a secret for it "
                                            "to enrol devices.") % {"name": group.name})
                return redirect(reverse("fleet:enrolment") + f"#group-{group.pk}")
        return render(request, "fleet/enrolment.html", _enrolment_context(form), status=400)


class SecretCreateView(FleetManageMixin, View):
    """The form, then the secret itself: shown on this one response and never again
    (only its hash is kept)."""

    def _render(self, request: HttpRequest, group: EnrolmentGroup, form: EnrolmentSecretForm,
                status: int = 200) -> HttpResponse:
        return render(request, "fleet/secret_form.html", {"group": group, "form": form},
                      status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = get_object_or_404(EnrolmentGroup, pk=pk)
        return self._render(request, group, EnrolmentSecretForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        group = get_object_or_404(EnrolmentGroup, pk=pk)
        form = EnrolmentSecretForm(request.POST)
        if form.is_valid():
            try:
                secret, raw = services.enrolment_secret_create(
                    actor=request.user, group=group, name=form.cleaned_data["name"],
                    expires_at=form.cleaned_data["expires_at"],
                    max_uses=form.cleaned_data["max_uses"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                from django.conf import settings

                response = render(request, "fleet/secret_created.html", {
                    "group": group, "secret": secret, "raw": raw,
                    "server": settings.ITSM_BASE_URL.rstrip("/")})
                add_never_cache_headers(response)  # never kept by a cache or the back button
                return response
        return self._render(request, group, form, status=400)


class SecretRevokeView(FleetManageMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        secret = get_object_or_404(EnrolmentSecret.objects.select_related("group"), pk=pk)
        try:
            services.enrolment_secret_revoke(actor=request.user, secret=secret)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Secret %(name)s revoked: no device can enrol with it "
                                        "any more.") % {"name": secret.name})
        return redirect(reverse("fleet:enrolment") + f"#group-{secret.group_id}")
