"""The CMDB REST API under ``/api/v1/cmdb/``. Reading needs desk access; every write
goes through ``cmdb.services`` / ``cmdb.licences``, which check the write permission
themselves and raise the domain errors the API turns into ``{code, message, fields}``."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, permissions, renderers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from itsm.errors import Conflict, DomainError

from .. import licences, selectors, services
from ..export import csv_response, export_rows
from ..filtersets import (
    ConfigurationItemFilterSet,
    RelationshipFilterSet,
    SoftwareLicenceFilterSet,
)
from ..models import (
    AttributeDefinition,
    CIClass,
    ConfigurationItem,
    Installation,
    Relationship,
    RelationshipType,
    SoftwareLicence,
)
from .serializers import (
    CIClassSerializer,
    ComplianceRowSerializer,
    ConfigurationItemDetailSerializer,
    ConfigurationItemSerializer,
    ErrorSerializer,
    HealthSerializer,
    ImpactQuerySerializer,
    ImpactSerializer,
    InstallationSerializer,
    LookupQuerySerializer,
    RelationshipSerializer,
    RelationshipTypeSerializer,
    SoftwareLicenceSerializer,
    TransitionRequestSerializer,
)

DESK = [permissions.IsAuthenticated, DeskPermission]
DUPLICATE = OpenApiResponse(ErrorSerializer, description="Conflict: an identifier matches "
                            "another CI (`duplicate_ci`, the message names it)")
CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflict: already recorded")
ATTRIBUTE_FILTERS = (
    "Besides the parameters below, `attr.<key>=<value>` filters on an attribute of the "
    "class schema (exact match, typed: `attr.cpu_cores=16`, `attr.disk_encrypted=true`); "
    "several may be combined.")


class CSVRenderer(renderers.BaseRenderer):
    """Lets a client ask for ``Accept: text/csv``. Successful exports are streamed by the
    view itself; this only renders error bodies, as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict | None = None) -> bytes:
        return b"" if data is None else json.dumps(data).encode()


class CmdbFilterBackend(DjangoFilterBackend):
    """django-filter, as everywhere; a class of its own only so the schema extension
    below applies to the CMDB lists."""


class CmdbFilterExtension(DjangoFilterExtension):
    """The CMDB FilterSets filter related rows by key (``field_name="ci_class__key"``,
    ``to_field_name="key"``). drf-spectacular appends ``to_field_name`` to the path
    again (``ci_class.key.key``) and cannot type the parameter; follow the path once."""

    target_class = "cmdb.api.views.CmdbFilterBackend"
    priority = 1

    def _get_model_field(self, filter_field: Any, model: Any) -> Any:
        from drf_spectacular.plumbing import follow_field_source

        if not filter_field.field_name:
            return None
        path = filter_field.field_name.split("__")
        to_field_name = filter_field.extra.get("to_field_name")
        if to_field_name is not None and path[-1] != to_field_name:
            path.append(to_field_name)
        return follow_field_source(model, path, emit_warnings=False)


# --- Classes and relationship types ---------------------------------------------------

class CIClassViewSet(viewsets.ReadOnlyModelViewSet):
    """CI classes with their attribute schemas (read-only). Classes and attribute
    definitions are data, edited by administrators in the Django admin
    (`/admin/cmdb/ciclass/`) for now; this API does not change them."""

    serializer_class = CIClassSerializer
    permission_classes = DESK
    pagination_class = None
    lookup_field = "key"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    queryset = CIClass.objects.prefetch_related(Prefetch(
        "attributes",
        queryset=AttributeDefinition.objects.select_related("reference_class")
        .order_by("order", "key")))


class RelationshipTypeViewSet(viewsets.ReadOnlyModelViewSet):
    """Relationship types, read forwards (`name`) and backwards (`reverse_name`), with
    the classes each may join (read-only; edited in the Django admin)."""

    serializer_class = RelationshipTypeSerializer
    permission_classes = DESK
    pagination_class = None
    lookup_field = "key"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    queryset = RelationshipType.objects.prefetch_related("allowed_sources",
                                                         "allowed_targets")


# --- Configuration items --------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(description=ATTRIBUTE_FILTERS),
    create=extend_schema(responses={201: ConfigurationItemDetailSerializer, 409: DUPLICATE}),
    update=extend_schema(responses={200: ConfigurationItemDetailSerializer, 409: DUPLICATE}),
    partial_update=extend_schema(responses={200: ConfigurationItemDetailSerializer,
                                            409: DUPLICATE}),
)
class ConfigurationItemViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                               viewsets.ReadOnlyModelViewSet):
    """Configuration items. Attributes are validated against the class schema and the
    identification rule (serial, else asset tag, else hostname + domain, else MAC) refuses
    duplicates with `409 duplicate_ci`. `status` moves only through
    `POST /cis/{id}/transition/`. Writing needs the CMDB permissions (Asset manager)."""

    permission_classes = DESK
    filter_backends = [CmdbFilterBackend]
    filterset_class = ConfigurationItemFilterSet
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ConfigurationItem]:
        return selectors.configuration_items()

    def get_serializer_class(self) -> type[ConfigurationItemSerializer]:
        if self.action == "list":
            return ConfigurationItemSerializer
        return ConfigurationItemDetailSerializer

    def _detail(self, ci: ConfigurationItem) -> dict[str, Any]:
        fresh = selectors.configuration_items().get(pk=ci.pk)
        return ConfigurationItemDetailSerializer(fresh, context=self.get_serializer_context()
                                                 ).data

    def perform_create(self, serializer: ConfigurationItemSerializer) -> None:
        data = dict(serializer.validated_data)
        ci = services.ci_create(actor=self.request.user, name=data.pop("name"),
                                ci_class=data.pop("ci_class"), tags=data.pop("tags", ()),
                                **data)
        serializer.instance = selectors.configuration_items().get(pk=ci.pk)

    def perform_update(self, serializer: ConfigurationItemSerializer) -> None:
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        ci = services.ci_update(actor=self.request.user, ci=serializer.instance, tags=tags,
                                **data)
        serializer.instance = selectors.configuration_items().get(pk=ci.pk)

    @extend_schema(request=TransitionRequestSerializer,
                   responses=ConfigurationItemDetailSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """Move the CI along its lifecycle. `transitions` in the CI detail lists the moves
        you may make; any other answers `400 invalid_transition`."""
        ci = self.get_object()
        body = TransitionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ci = services.ci_transition(actor=request.user, ci=ci,
                                    to_status=body.validated_data["to_status"],
                                    note=body.validated_data["note"])
        return Response(self._detail(ci))

    @extend_schema(parameters=[LookupQuerySerializer],
                   responses={200: ConfigurationItemDetailSerializer,
                              404: OpenApiResponse(ErrorSerializer,
                                                   description="No CI has this identifier"),
                              409: OpenApiResponse(
                                  ErrorSerializer,
                                  description="Several CIs have this identifier "
                                              "(`ambiguous`); narrow it, e.g. with domain")})
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def lookup(self, request: Request) -> Response:
        """The CI with this identifier: give exactly one of `serial`, `asset_tag`,
        `hostname` (with `domain` to narrow it), `mac` or `ip`. The identification rule
        decides first; a CI whose identity was decided by another identifier (a server
        known by its serial, looked up by hostname) is found by the field itself."""
        query = LookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ci = _lookup(query.validated_data)
        return Response(self._detail(ci))

    @extend_schema(
        filters=True,
        description="The filtered list as CSV (UTF-8), the columns the import reads plus one "
                    "`attr.<key>` column per attribute. " + ATTRIBUTE_FILTERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR,
                                                      description="CSV file")})
    @action(detail=False, methods=["get"], pagination_class=None,
            renderer_classes=[renderers.JSONRenderer, CSVRenderer])
    def export(self, request: Request) -> Any:
        """CSV export of the CI list, with the list's filters."""
        queryset = self.filter_queryset(self.get_queryset())
        return csv_response(export_rows(queryset), "configuration-items.csv")

    @extend_schema(parameters=[ImpactQuerySerializer], responses=ImpactSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def impact(self, request: Request, pk: str | None = None) -> Response:
        """Impact analysis. `up`: everything that depends on this CI (affected if it
        fails); `down`: everything it needs. Follows relationship types that propagate
        impact, to `depth` links; cycle-safe. `truncated` is true when more than 2,000
        CIs were reached."""
        ci = self.get_object()
        query = ImpactQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        impact = selectors.ci_impact(ci, direction=query.validated_data["direction"],
                                     depth=query.validated_data["depth"])
        return Response({
            "root": ci.pk, "direction": impact.direction, "depth": impact.depth,
            "truncated": impact.truncated,
            "nodes": [{"id": node.pk, "name": node.name, "class": node.ci_class.key,
                       "status": node.status, "criticality": node.criticality,
                       "distance": distance} for node, distance in impact.nodes],
            "edges": [{"source": edge.source_id, "target": edge.target_id,
                       "type": edge.type.key, "label": edge.type.name}
                      for edge in impact.edges],
        })

    @extend_schema(responses=HealthSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def health(self, request: Request, pk: str | None = None) -> Response:
        """Health of a business or technical service: `down` (an open major or P1/P2
        record on the service), `degraded` (on something it depends on) or `operational`.
        Other classes answer `400 not_a_service`."""
        ci = self.get_object()
        if not ci.ci_class.is_service:
            raise DomainError(
                _("%(name)s is a %(cls)s; only services (business or technical) have a "
                  "health.") % {"name": ci.name, "cls": ci.ci_class.name},
                code="not_a_service")
        health = selectors.service_health(ci)
        causes = health["causes"]
        names = dict(ConfigurationItem.objects.filter(pk__in=list(causes))
                     .values_list("pk", "name"))
        return Response({
            "ci": ci.pk, "status": health["status"],
            "causes": [{"ci": pk, "name": names.get(pk, ""), "reason": str(reason)}
                       for pk, reason in causes.items()],
        })


def _lookup(params: dict[str, Any]) -> ConfigurationItem:
    """The CI one identifier names: by the identification rule, else by the field."""
    items = selectors.configuration_items()
    if params.get("ip"):
        name, value = "ip", params["ip"]
        found = items.filter(ip_address=value)
    else:
        name = next(n for n in ("serial", "asset_tag", "hostname", "mac") if params.get(n))
        value = params[name]
        field = {"serial": "serial_number", "mac": "mac_address"}.get(name, name)
        identifiers = {field: value}
        if name == "hostname":
            identifiers["domain"] = params.get("domain", "")
        if name == "mac":
            try:
                value = identifiers[field] = services.normalise_mac(value)
            except DomainError as error:
                raise DomainError(error.message,
                                  fields={"mac": [_("Not a MAC address.")]}) from error
        identified = services.ci_find_identified(**identifiers)
        if identified is not None:
            return items.get(pk=identified.pk)
        found = items.filter(**{f"{field}__iexact": value})
        if name == "hostname" and params.get("domain"):
            found = found.filter(domain__iexact=params["domain"].strip().strip("."))
    matches = list(found[:6])
    if not matches:
        raise NotFound(_("No configuration item has %(name)s=%(value)s.")
                       % {"name": name, "value": value})
    if len(matches) > 1:
        shown = ", ".join(f"{ci.name} (CI {ci.pk})" for ci in matches[:5])
        raise Conflict(_("Several configuration items have %(name)s=%(value)s: %(cis)s.")
                       % {"name": name, "value": value, "cis": shown},
                       code="ambiguous", fields={name: [_("Matches several CIs.")]})
    return matches[0]


# --- Relationships --------------------------------------------------------------------

@extend_schema_view(create=extend_schema(responses={201: RelationshipSerializer,
                                                    409: CONFLICT}))
class RelationshipViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin,
                          viewsets.ReadOnlyModelViewSet):
    """Typed relationships between CIs. A type only joins the classes it allows
    (`400 class_not_allowed`), a CI cannot point at itself (`400 self_relationship`), and
    the same link twice is `409`. Not edited: delete and create instead."""

    serializer_class = RelationshipSerializer
    permission_classes = DESK
    filter_backends = [CmdbFilterBackend]
    filterset_class = RelationshipFilterSet
    lookup_value_regex = r"\d+"
    queryset = Relationship.objects.select_related("source", "target", "type")

    def perform_create(self, serializer: RelationshipSerializer) -> None:
        relationship = services.relationship_create(actor=self.request.user,
                                                    **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=relationship.pk)

    def perform_destroy(self, instance: Relationship) -> None:
        services.relationship_delete(actor=self.request.user, relationship=instance)


# --- Licences and installations -------------------------------------------------------

class SoftwareLicenceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                             viewsets.ReadOnlyModelViewSet):
    """Software licences: entitlements bought for a software product CI. Not deleted
    (`DELETE` gives `405`); let them expire with `expiry_date`."""

    serializer_class = SoftwareLicenceSerializer
    permission_classes = DESK
    filterset_class = SoftwareLicenceFilterSet
    lookup_value_regex = r"\d+"
    queryset = SoftwareLicence.objects.select_related("product")

    def perform_create(self, serializer: SoftwareLicenceSerializer) -> None:
        licence = licences.licence_create(actor=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=licence.pk)

    def perform_update(self, serializer: SoftwareLicenceSerializer) -> None:
        licence = licences.licence_update(actor=self.request.user, licence=serializer.instance,
                                          **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=licence.pk)

    @extend_schema(
        parameters=[OpenApiParameter("over_deployed", bool,
                                     description="Only over-deployed products (true).")],
        responses=ComplianceRowSerializer(many=True))
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def compliance(self, request: Request) -> Response:
        """Per software product: entitlements of unexpired licences against installations
        (devices, or distinct assigned users for per-user licences)."""
        only_over = request.query_params.get("over_deployed", "").lower()
        if only_over not in ("", "true", "false"):
            raise DomainError(_("over_deployed: Enter true or false."),
                              fields={"over_deployed": [_("Enter true or false.")]})
        rows = [{
            "product": row["product"].pk, "product_name": row["product"].name,
            "metric": row["metric"], "entitled": row["entitled"],
            "installed": row["installed"], "available": row["available"],
            "over_deployed": row["over_deployed"],
            "licences": [lic.pk for lic in row["licences"]],
        } for row in selectors.licence_compliance()]
        if only_over == "true":
            rows = [row for row in rows if row["over_deployed"]]
        return Response(rows)


@extend_schema_view(create=extend_schema(responses={201: InstallationSerializer,
                                                    409: CONFLICT}))
class InstallationViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin,
                          viewsets.ReadOnlyModelViewSet):
    """Software products installed on devices (servers, virtual machines, workstations,
    mobile devices). Filter by `product` or `device` (CI ids)."""

    serializer_class = InstallationSerializer
    permission_classes = DESK
    filterset_fields = ["product", "device"]
    lookup_value_regex = r"\d+"
    queryset = Installation.objects.select_related("product", "device")

    def perform_create(self, serializer: InstallationSerializer) -> None:
        installation = licences.installation_add(actor=self.request.user,
                                                 **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=installation.pk)

    def perform_destroy(self, instance: Installation) -> None:
        licences.installation_remove(actor=self.request.user, installation=instance)

