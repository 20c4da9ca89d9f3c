"""Desk pages of the CMDB: the CI list (filters, saved views, CSV export), CI detail
(attributes, lifecycle, relationships, impact graph, software, history), the forms
generated from the class schema, and licences. Views read through selectors and write
through services; refusals are shown at the field they name."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from audit.display import related_names
from audit.models import AuditEntry
from desk.access import DeskAccessMixin
from desk.pickers import lookup_status_id, lookup_term
from desk.saved_view_views import saved_views_context
from desk.saved_views import normalise_query
from itsm.errors import Conflict, DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import licences, selectors, services
from .export import csv_response, export_rows
from .filtersets import ConfigurationItemFilterSet
from .forms import (
    AttributeFilterForm,
    ConfigurationItemForm,
    InstallationForm,
    LicenceForm,
    RelationshipForm,
)
from .models import (
    AttributeType,
    CIClass,
    ConfigurationItem,
    Installation,
    Relationship,
    SoftwareLicence,
)
from .pickers import cis_of_kind

PAGE_SIZE = 50
HISTORY_SIZE = 50
LOOKUP_SIZE = 15
DEFAULT_IMPACT_DEPTH = 3
# The filters shown in the list's filter bar; any other filter in the URL is kept.
FILTER_BAR = ("q", "ci_class", "status", "owner_team", "criticality", "environment", "tag")
SINGLE_CHOICE_FILTERS = ("ci_class", "status", "tag")
EDIT = "cmdb.change_configurationitem"
SAVED_VIEW_LIST = "cmdb.ci"  # the CI list's key among the desk's saved views (apps.py)


# --- CI list --------------------------------------------------------------------------

class FilterSelect(forms.SelectMultiple):
    """A drop-down of one value for a filter that accepts several (a link or a saved view
    may still name several: then it shows the first). Empty values are no filter."""

    allow_multiple_selected = False

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [v for v in super().value_from_datadict(data, files, name) if v]


def _compact(filterset: ConfigurationItemFilterSet, params: QueryDict) -> None:
    """Drop-downs with an "Any" choice for the filter bar."""
    form = filterset.form
    for name in SINGLE_CHOICE_FILTERS:
        field = form.fields[name]
        if len([v for v in params.getlist(name) if v]) <= 1:
            # iter(): a ModelChoiceIterator's len() would COUNT the table
            field.widget = FilterSelect(choices=[("", _("Any")), *iter(field.choices)])
    for name in ("owner_team", "criticality", "environment"):
        widget = form.fields[name].widget
        widget.choices = [("", _("Any")), *((v, label) for v, label in iter(widget.choices) if v)]
    form.fields["q"].help_text = ""
    form.fields["q"].widget.input_type = "search"
    form.fields["q"].widget.attrs["placeholder"] = _("Name, hostname, serial, asset tag or IP")


def _encode_cursor(ci: ConfigurationItem) -> str:
    raw = json.dumps([ci.name, ci.pk], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[str, int]:
    try:
        name, pk = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("bad cursor") from error
    if not isinstance(name, str) or not isinstance(pk, int):
        raise ValueError("bad cursor")
    return name, pk


def _list_params(request: HttpRequest) -> tuple[QueryDict, str | None]:
    """The filters of the request without empty values (an empty ``attr.<key>`` would
    match nothing) and the page cursor."""
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        kept = [value for value in values if value.strip()]
        if kept:
            params.setlist(key, kept)
    after = params.pop("after", [None])[-1]
    return params, after


def _filtered(params: QueryDict) -> tuple[ConfigurationItemFilterSet, QuerySet, bool]:
    filterset = ConfigurationItemFilterSet(params or None, queryset=selectors.configuration_items())
    _compact(filterset, params)
    valid = not filterset.is_bound or filterset.is_valid()
    items = filterset.qs if valid else ConfigurationItem.objects.none()
    return filterset, items, valid


def _chosen_class(params: QueryDict, valid: bool) -> CIClass | None:
    keys = [v for v in params.getlist("ci_class") if v]
    if not valid or len(keys) != 1:
        return None
    return CIClass.objects.filter(key=keys[0]).prefetch_related("attributes").first()


def _list_context(request: HttpRequest, params: QueryDict,
                  after: str | None) -> tuple[dict[str, Any], int]:
    filterset, items, valid = _filtered(params)
    status = 200 if valid else 400
    items = items.order_by("name", "id")
    if after:
        try:
            name, pk = _decode_cursor(after)
        except ValueError:
            items, status = ConfigurationItem.objects.none(), 400
        else:
            items = items.filter(Q(name__gt=name) | Q(name=name, pk__gt=pk))
    window = list(items[:PAGE_SIZE + 1])
    query = normalise_query(params.urlencode())
    ci_class = _chosen_class(params, valid)
    shown = set(FILTER_BAR)
    attribute_form = None
    if ci_class is not None:
        attribute_form = AttributeFilterForm(ci_class, data=params)
        attribute_form.is_valid()  # only to show the values back
        shown |= set(attribute_form.fields)
    kept = [(key, value) for key, values in QueryDict(query).lists() if key not in shown
            for value in values]
    return {
        "filter": filterset,
        "filter_fields": [filterset.form[name] for name in FILTER_BAR],
        "kept_filters": kept,
        "attribute_form": attribute_form,
        "chosen_class": ci_class,
        "items": window[:PAGE_SIZE],
        "next_cursor": _encode_cursor(window[PAGE_SIZE - 1]) if len(window) > PAGE_SIZE
        else None,
        "is_first": not after,
        "query": query,
        **saved_views_context(request, SAVED_VIEW_LIST, query),
    }, status


class CIListView(DeskAccessMixin, View):
    """Keyset-paged by (name, id): no page counts the table."""

    def get(self, request: HttpRequest) -> HttpResponse:
        params, after = _list_params(request)
        context, status = _list_context(request, params, after)
        template = "cmdb/_ci_list_body.html" if request.htmx else "cmdb/ci_list.html"
        return render(request, template, context, status=status)


class CIExportView(DeskAccessMixin, View):
    """The current filtered list as CSV (the columns the import reads)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        params, _after = _list_params(request)
        _filterset, items, valid = _filtered(params)
        if not valid:
            return render(request, "errors/400.html", status=400)
        stamp = timezone.localdate().isoformat()
        return csv_response(export_rows(items), f"configuration-items-{stamp}.csv")


def _add_error(form: forms.Form, error: DomainError) -> None:
    adder = getattr(form, "add_service_error", None)
    if adder is not None:
        adder(error)
    else:
        add_domain_error(form, error)


# --- CI detail ------------------------------------------------------------------------

def _ci_or_404(pk: int) -> ConfigurationItem:
    return get_object_or_404(selectors.configuration_items(), pk=pk)


def _attribute_rows(ci: ConfigurationItem) -> list[dict[str, Any]]:
    """Label, value and (for references) the CI it points at, in schema order; values
    the schema no longer has come last."""
    definitions = list(ci.ci_class.attributes.all())
    values = ci.attributes or {}
    reference_ids = [values[d.key] for d in definitions
                     if d.type == AttributeType.REFERENCE and isinstance(values.get(d.key), int)]
    referenced = ConfigurationItem.objects.in_bulk(reference_ids) if reference_ids else {}
    rows = []
    for definition in definitions:
        value = values.get(definition.key)
        row: dict[str, Any] = {"key": definition.key, "label": definition.label,
                               "value": value, "type": definition.type}
        if definition.type == AttributeType.REFERENCE and value is not None:
            row["ci"] = referenced.get(value)
        elif definition.type == AttributeType.DATE and value:
            with contextlib.suppress(ValueError):
                row["value"] = datetime.date.fromisoformat(value)
        rows.append(row)
    known = {d.key for d in definitions}
    rows += [{"key": key, "label": key, "value": value, "type": "unknown"}
             for key, value in sorted(values.items()) if key not in known]
    return rows


def _impact_options(params: QueryDict) -> tuple[str, int]:
    direction = params.get("direction", "up")
    direction = direction if direction in ("up", "down") else "up"
    try:
        depth = int(params.get("depth", DEFAULT_IMPACT_DEPTH))
    except ValueError:
        depth = DEFAULT_IMPACT_DEPTH
    return direction, max(1, min(depth, selectors.MAX_IMPACT_DEPTH))


def _impact_context(ci: ConfigurationItem, params: QueryDict) -> dict[str, Any]:
    direction, depth = _impact_options(params)
    impact = selectors.ci_impact(ci, direction=direction, depth=depth)
    nodes = sorted(((item, distance) for item, distance in impact.nodes if item.pk != ci.pk),
                   key=lambda node: (node[1], node[0].name.lower()))
    return {
        "impact": impact, "impact_nodes": nodes, "direction": direction, "depth": depth,
        "depths": range(1, selectors.MAX_IMPACT_DEPTH + 1),
        "impact_json_url": reverse("cmdb:ci_impact_json", args=[ci.pk])
        + f"?direction={direction}&depth={depth}",
    }


def _relationships_context(request: HttpRequest, ci: ConfigurationItem,
                           form: RelationshipForm | None = None) -> dict[str, Any]:
    related = ("type", "target", "target__ci_class", "source", "source__ci_class")
    can_add = request.user.has_perm("cmdb.add_relationship")
    return {
        "outgoing": ci.outgoing.select_related(*related).order_by("type__name",
                                                                  "target__name"),
        "incoming": ci.incoming.select_related(*related).order_by("type__reverse_name",
                                                                  "source__name"),
        "relationship_form": (form or RelationshipForm(ci=ci)) if can_add else None,
        "can_remove_relationships": request.user.has_perm("cmdb.delete_relationship"),
    }


def _software_context(request: HttpRequest, ci: ConfigurationItem,
                      form: InstallationForm | None = None) -> dict[str, Any]:
    is_device = ci.ci_class.key in licences.DEVICE_CLASSES
    is_product = ci.ci_class.key == licences.PRODUCT_CLASS
    context: dict[str, Any] = {"is_device": is_device, "is_product": is_product}
    if is_device:
        context["installed"] = ci.installed_software.select_related("product").order_by(
            "product__name")
        if request.user.has_perm("cmdb.add_installation"):
            context["installation_form"] = form or InstallationForm()
        context["can_remove_installations"] = request.user.has_perm(
            "cmdb.delete_installation")
    if is_product:
        context["installations"] = selectors.installations_of(ci).order_by("device__name")
        context["product_licences"] = ci.licences.select_related("owner_team").order_by(
            "name")
        rows = _compliance(ConfigurationItem.objects.filter(pk=ci.pk))
        context["compliance"] = rows[0] if rows else None
    return context


def _history(ci: ConfigurationItem) -> list[AuditEntry]:
    """This CI's audit entries, newest first, each with ``lines``: the changed fields
    with readable values (classes, teams and people by name; empty values left out)."""
    entries = list(AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ConfigurationItem),
        object_id=str(ci.pk)).order_by("-id")[:HISTORY_SIZE])
    names = related_names(ConfigurationItem, (entry.changes for entry in entries))
    labels = {f.name: str(f.verbose_name) for f in ConfigurationItem._meta.get_fields()
              if hasattr(f, "verbose_name")}
    labels.update({"relationships": _("relationships"),
                   "installed_software": _("installed software")})
    for entry in entries:
        entry.lines = [  # type: ignore[attr-defined]
            (labels.get(field, field), _readable(before, names.get(field)),
             _readable(after, names.get(field)))
            for field, (before, after) in (entry.changes or {}).items()
            if not (_is_empty(before) and _is_empty(after))]
    return entries


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _readable(value: Any, names: dict[Any, str] | None = None) -> str | None:
    if _is_empty(value):
        return None
    if names is not None and isinstance(value, int) and value in names:
        return names[value]
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_readable(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(str(_readable(item)) for item in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _detail_context(request: HttpRequest, ci: ConfigurationItem, **forms_: Any
                    ) -> dict[str, Any]:
    context: dict[str, Any] = {
        "ci": ci,
        "attribute_rows": _attribute_rows(ci),
        "transitions": services.ci_available_transitions(ci, request.user),
        "history": _history(ci),
        "health": selectors.service_health(ci) if ci.ci_class.is_service else None,
        "today": timezone.localdate(),
    }
    context.update(_impact_context(ci, request.GET))
    context.update(_relationships_context(request, ci, forms_.get("relationship_form")))
    context.update(_software_context(request, ci, forms_.get("installation_form")))
    if context["health"] and context["health"]["causes"]:
        causes = context["health"]["causes"]
        context["health_causes"] = [
            (item, causes[item.pk]) for item in ConfigurationItem.objects.filter(
                pk__in=list(causes)).order_by("name")]
    return context


class CIDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        if request.htmx and request.htmx.target == "impact":
            context = {"ci": ci, **_impact_context(ci, request.GET)}
            return render(request, "cmdb/_impact.html", context)
        return render(request, "cmdb/ci_detail.html", _detail_context(request, ci))


class CIImpactJsonView(DeskAccessMixin, View):
    """The impact graph's data: nodes (with their distance from the CI) and links."""

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        ci = _ci_or_404(pk)
        direction = request.GET.get("direction", "up")
        depth_text = request.GET.get("depth", str(DEFAULT_IMPACT_DEPTH))
        errors: dict[str, list[str]] = {}
        if direction not in ("up", "down"):
            errors["direction"] = [_("Choose up or down.")]
        if not depth_text.isdigit() or not 1 <= int(depth_text) <= selectors.MAX_IMPACT_DEPTH:
            errors["depth"] = [_("Choose a depth from 1 to %(max)s.")
                               % {"max": selectors.MAX_IMPACT_DEPTH}]
        if errors:
            return JsonResponse({"code": "invalid", "message": next(iter(errors.values()))[0],
                                 "fields": errors}, status=400)
        impact = selectors.ci_impact(ci, direction=direction, depth=int(depth_text))
        return JsonResponse(impact_graph(impact))


def impact_graph(impact: selectors.Impact) -> dict[str, Any]:
    return {
        "root": impact.root.pk,
        "direction": impact.direction,
        "depth": impact.depth,
        "truncated": impact.truncated,
        "nodes": [{
            "id": item.pk, "name": item.name, "class": item.ci_class.name,
            "class_key": item.ci_class.key, "is_service": item.ci_class.is_service,
            "status": item.status, "status_label": item.get_status_display(),
            "criticality": item.criticality, "distance": distance,
            "url": reverse("cmdb:ci_detail", args=[item.pk]),
        } for item, distance in impact.nodes],
        "edges": [{
            "id": link.pk, "source": link.source_id, "target": link.target_id,
            "type": link.type.key, "label": link.type.name,
        } for link in impact.edges],
    }


class CILookupView(DeskAccessMixin, View):
    """Suggestions for CI fields (a <datalist>): by name, hostname, serial or id. The
    pickers of other apps (``cmdb.pickers``) narrow it with ``kind=service`` or
    ``kind=ci`` and name their live region (``status``) to hear the count."""

    def get(self, request: HttpRequest) -> HttpResponse:
        text = lookup_term(request)
        items: list[ConfigurationItem] = []
        searched = len(text) >= 2 or text.isdigit()
        if searched:
            query = (Q(name__icontains=text) | Q(hostname__istartswith=text)
                     | Q(serial_number__iexact=text))
            if text.isdigit():
                query |= Q(pk=int(text))
            items = list(cis_of_kind(request.GET.get("kind")).filter(query)
                         .select_related("ci_class")
                         .exclude(pk=request.GET.get("exclude") or None)
                         .order_by("name", "id")[:LOOKUP_SIZE])
        return render(request, "cmdb/_ci_options.html", {
            "items": items, "status_id": lookup_status_id(request),
            "count": len(items) if searched else None})


# --- Lifecycle, relationships, software -----------------------------------------------

class CITransitionView(DeskAccessMixin, View):
    permission_required = ("accounts.access_desk", EDIT)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        try:
            ci = services.ci_transition(actor=request.user, ci=ci,
                                        to_status=request.POST.get("to_status", ""),
                                        note=request.POST.get("note", "").strip())
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(name)s is now %(status)s.") % {
                "name": ci.name, "status": ci.get_status_display().lower()})
        return redirect("cmdb:ci_detail", pk=ci.pk)


def _section(request: HttpRequest, ci: ConfigurationItem, template: str,
             context: dict[str, Any], status: int = 200) -> HttpResponse:
    """An htmx request gets the section back; a plain form post the whole page."""
    if request.htmx:
        return render(request, template, {"ci": ci, **context}, status=status)
    if status == 200:
        return redirect(reverse("cmdb:ci_detail", args=[ci.pk]))
    return render(request, "cmdb/ci_detail.html", _detail_context(request, ci, **context),
                  status=status)


class RelationshipCreateView(DeskAccessMixin, View):
    permission_required = ("accounts.access_desk", "cmdb.add_relationship")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        form = RelationshipForm(request.POST, ci=ci)
        if form.is_valid():
            rel_type, source, target = form.ends()
            try:
                services.relationship_create(actor=request.user, source=source,
                                             target=target, type=rel_type)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("%(source)s %(rel)s %(target)s: recorded.") % {
                    "source": source.name, "rel": rel_type.name, "target": target.name})
                response = _section(request, ci, "cmdb/_relationships.html",
                                    _relationships_context(request, ci))
                response["HX-Trigger"] = "relationshipsChanged"
                return response
        return _section(request, ci, "cmdb/_relationships.html",
                        _relationships_context(request, ci, form), status=400)


class RelationshipDeleteView(DeskAccessMixin, View):
    permission_required = ("accounts.access_desk", "cmdb.delete_relationship")

    def post(self, request: HttpRequest, pk: int, relationship_pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        relationship = get_object_or_404(
            Relationship.objects.select_related("source", "target", "type")
            .filter(Q(source=ci) | Q(target=ci)), pk=relationship_pk)
        try:
            services.relationship_delete(actor=request.user, relationship=relationship)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        messages.success(request, _("%(source)s %(rel)s %(target)s: removed.") % {
            "source": relationship.source.name, "rel": relationship.type.name,
            "target": relationship.target.name})
        response = _section(request, ci, "cmdb/_relationships.html",
                            _relationships_context(request, ci))
        response["HX-Trigger"] = "relationshipsChanged"
        return response


class InstallationCreateView(DeskAccessMixin, View):
    permission_required = ("accounts.access_desk", "cmdb.add_installation")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        form = InstallationForm(request.POST)
        if form.is_valid():
            try:
                licences.installation_add(actor=request.user, product=form.cleaned_data[
                    "product"], device=ci, version=form.cleaned_data["version"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("%(product)s recorded on %(device)s.") % {
                    "product": form.cleaned_data["product"].name, "device": ci.name})
                return _section(request, ci, "cmdb/_software.html",
                                _software_context(request, ci))
        return _section(request, ci, "cmdb/_software.html",
                        _software_context(request, ci, form), status=400)


class InstallationDeleteView(DeskAccessMixin, View):
    permission_required = ("accounts.access_desk", "cmdb.delete_installation")

    def post(self, request: HttpRequest, pk: int, installation_pk: int) -> HttpResponse:
        ci = _ci_or_404(pk)
        installation = get_object_or_404(Installation.objects.select_related("product"),
                                         pk=installation_pk, device=ci)
        try:
            licences.installation_remove(actor=request.user, installation=installation)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        messages.success(request, _("%(product)s removed from %(device)s.") % {
            "product": installation.product.name, "device": ci.name})
        return _section(request, ci, "cmdb/_software.html", _software_context(request, ci))


# --- Create and edit ------------------------------------------------------------------

class CIFormView(DeskAccessMixin, View):
    """Create (choose the class first: ``?class=<key>``) or edit a CI with a form
    generated from the class's attribute schema."""

    def get_permission_required(self) -> tuple[str, ...]:
        pk = self.kwargs.get("pk")
        return ("accounts.access_desk",
                EDIT if pk else "cmdb.add_configurationitem")

    def _class(self, request: HttpRequest, ci: ConfigurationItem | None) -> CIClass | None:
        if ci is not None:
            return ci.ci_class
        key = request.GET.get("class", "")
        return CIClass.objects.filter(key=key).first() if key else None

    def _choose_class(self, request: HttpRequest, status: int = 200) -> HttpResponse:
        key = request.GET.get("class", "")
        return render(request, "cmdb/ci_choose_class.html", {
            "classes": CIClass.objects.all(),
            "unknown_class": key if status == 400 else "",
        }, status=status)

    def _render(self, request: HttpRequest, form: ConfigurationItemForm,
                ci: ConfigurationItem | None, status: int = 200,
                duplicate: ConfigurationItem | None = None) -> HttpResponse:
        return render(request, "cmdb/ci_form.html", {
            "form": form, "ci": ci, "ci_class": form.ci_class, "duplicate": duplicate,
        }, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        ci = _ci_or_404(pk) if pk else None
        ci_class = self._class(request, ci)
        if ci_class is None:
            return self._choose_class(request, status=400 if request.GET.get("class") else 200)
        return self._render(request, ConfigurationItemForm(ci_class=ci_class, instance=ci), ci)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        ci = _ci_or_404(pk) if pk else None
        ci_class = self._class(request, ci)
        if ci_class is None:
            return self._choose_class(request, status=400)
        form = ConfigurationItemForm(request.POST, ci_class=ci_class, instance=ci)
        duplicate = None
        if form.is_valid():
            values = form.service_values()
            try:
                if ci is None:
                    ci = services.ci_create(
                        actor=request.user, name=values.pop("name"), ci_class=ci_class,
                        status=form.cleaned_data["status"], tags=form.tag_names(), **values)
                    messages.success(request, _("%(name)s was added.") % {"name": ci.name})
                else:
                    services.ci_update(actor=request.user, ci=ci, tags=form.tag_names(),
                                       **values)
                    messages.success(request, _("Changes saved."))
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                if isinstance(error, Conflict) and error.code == "duplicate_ci":
                    # Before add_error takes the field out of cleaned_data.
                    duplicate = services.ci_find_identified(**form.identifiers())
                    if ci is not None and duplicate is not None and duplicate.pk == ci.pk:
                        duplicate = None
                form.add_service_error(error)
            else:
                return redirect("cmdb:ci_detail", pk=ci.pk)
        return self._render(request, form, ci, status=400, duplicate=duplicate)


# --- Licences -------------------------------------------------------------------------

def _compliance(products: QuerySet[ConfigurationItem] | None = None) -> list[dict[str, Any]]:
    rows = selectors.licence_compliance(products)
    for row in rows:
        row["over_by"] = max(0, row["installed"] - row["entitled"])
    return rows


class LicenceListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        return render(request, "cmdb/licence_list.html", {
            "compliance": _compliance(),
            "licences": SoftwareLicence.objects.select_related("product", "owner_team")
            .order_by("product__name", "name"),
            "today": today,
            "soon": today + datetime.timedelta(days=30),
        })


class LicenceFormView(DeskAccessMixin, View):
    def get_permission_required(self) -> tuple[str, ...]:
        return ("accounts.access_desk", "cmdb.change_softwarelicence" if self.kwargs.get("pk")
                else "cmdb.add_softwarelicence")

    def _render(self, request: HttpRequest, form: LicenceForm,
                licence: SoftwareLicence | None, status: int = 200) -> HttpResponse:
        return render(request, "cmdb/licence_form.html", {"form": form, "licence": licence},
                      status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        licence = get_object_or_404(SoftwareLicence, pk=pk) if pk else None
        initial: dict[str, Any] = {}
        if licence is not None:
            initial = {name: getattr(licence, name) for name in LicenceForm.FIELDS}
            initial["product"] = licence.product_id
            initial["owner_team"] = licence.owner_team_id
        elif request.GET.get("product", "").isdigit():
            initial["product"] = int(request.GET["product"])
        return self._render(request, LicenceForm(initial=initial), licence)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        licence = get_object_or_404(SoftwareLicence, pk=pk) if pk else None
        form = LicenceForm(request.POST)
        if form.is_valid():
            values = {name: form.cleaned_data[name] for name in LicenceForm.FIELDS}
            try:
                if licence is None:
                    licence = licences.licence_create(actor=request.user, **values)
                    messages.success(request, _("Licence %(name)s added.") % {
                        "name": licence.name})
                else:
                    licences.licence_update(actor=request.user, licence=licence, **values)
                    messages.success(request, _("Changes saved."))
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                _add_error(form, error)
            else:
                return redirect("cmdb:licence_list")
        return self._render(request, form, licence, status=400)
