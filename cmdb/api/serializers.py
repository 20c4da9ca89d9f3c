"""Serializers of the CMDB API. They validate the shape of the input and render the
output; every write goes through ``cmdb.services`` and ``cmdb.licences`` (never
``serializer.save()``), which apply the class schema, identification and permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from accounts.models import Team

from ..models import (
    AttributeDefinition,
    CIClass,
    CIStatus,
    ConfigurationItem,
    Installation,
    InstallationSource,
    LicenceMetric,
    Relationship,
    RelationshipType,
    SoftwareLicence,
)
from ..selectors import MAX_IMPACT_DEPTH
from ..services import ci_available_transitions

User = get_user_model()
DEFAULT_IMPACT_DEPTH = 3

# The one error shape, for responses the schema hook does not add (409). The hook
# (itsm.api.errors.add_error_responses) writes the same "Error" component.
ErrorSerializer = inline_serializer(name="Error", fields={
    "code": serializers.CharField(),
    "message": serializers.CharField(),
    "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
})


# --- Classes and relationship types ---------------------------------------------------

class AttributeDefinitionSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text="The allowed values of a choice attribute.")
    reference_class = serializers.SlugRelatedField(
        slug_field="key", read_only=True, allow_null=True,
        help_text="For reference attributes: the class key of the CI it points at "
                  "(any class if null). The value is that CI's id.")

    class Meta:
        model = AttributeDefinition
        fields = ["key", "label", "type", "required", "choices", "reference_class",
                  "help_text", "order"]
        read_only_fields = fields


class CIClassSerializer(serializers.ModelSerializer):
    attributes = AttributeDefinitionSerializer(many=True, read_only=True)

    class Meta:
        model = CIClass
        fields = ["id", "key", "name", "description", "is_asset", "is_service", "order",
                  "attributes"]
        read_only_fields = fields


class RelationshipTypeSerializer(serializers.ModelSerializer):
    allowed_sources = serializers.SlugRelatedField(
        slug_field="key", many=True, read_only=True,
        help_text="Class keys that may be the source; empty: any class.")
    allowed_targets = serializers.SlugRelatedField(
        slug_field="key", many=True, read_only=True,
        help_text="Class keys that may be the target; empty: any class.")

    class Meta:
        model = RelationshipType
        fields = ["id", "key", "name", "reverse_name", "propagates_impact", "allowed_sources",
                  "allowed_targets"]
        read_only_fields = fields


# --- Configuration items --------------------------------------------------------------

class TagListField(serializers.ListField):
    """Tag names in, sorted tag names out (read from the prefetched tags)."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, value: Any) -> list[str]:
        return sorted(tag.name for tag in value.all())


STATUS_VALUES = ", ".join(CIStatus.values)


@extend_schema_field({"type": "string"})
class StatusNameField(serializers.ChoiceField):
    """A CI status validated against CIStatus, documented as a plain string: the schema
    keeps one named enum for the set (the CI's ``status``); a second name for the same
    set (``to_status``) is what ENUM_NAME_OVERRIDES would otherwise have to resolve."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", f"A CI status: {STATUS_VALUES}.")
        super().__init__(choices=CIStatus.choices, **kwargs)


class TransitionSerializer(serializers.Serializer):
    to_status = StatusNameField()
    label = serializers.CharField()


class ConfigurationItemSerializer(serializers.ModelSerializer):
    ci_class = serializers.SlugRelatedField(
        slug_field="key", queryset=CIClass.objects.all(),
        help_text="The class key (see /api/v1/cmdb/classes/).")
    class_name = serializers.CharField(source="ci_class.name", read_only=True)
    owner_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True,
        help_text="Team id: the support group incidents on this CI are routed to.")
    owner_team_name = serializers.CharField(source="owner_team.name", read_only=True,
                                            allow_null=True)
    assigned_to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True, help_text="User id.")
    assigned_to_username = serializers.CharField(source="assigned_to.username",
                                                 read_only=True, allow_null=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True,
                                            allow_blank=True)
    tags = TagListField(required=False, help_text="Tag names; sending them replaces the tags.")
    attributes = serializers.DictField(
        required=False,
        help_text="Attribute values by key, validated against the class schema. On "
                  "PATCH/PUT the object replaces the stored attributes.")

    class Meta:
        model = ConfigurationItem
        fields = [
            "id", "name", "ci_class", "class_name", "status", "description", "owner_team",
            "owner_team_name", "criticality", "location", "environment", "serial_number",
            "asset_tag", "hostname", "domain", "ip_address", "mac_address", "vendor",
            "product_model", "tags", "attributes", "identity", "purchase_date", "cost",
            "supplier", "warranty_end", "lease_end", "assigned_to", "assigned_to_username",
            "stock_location", "created_at", "updated_at",
        ]
        read_only_fields = ["status", "identity", "created_at", "updated_at"]
        extra_kwargs = {
            "status": {"help_text": "Changed only through POST /cis/{id}/transition/."},
            "identity": {"help_text": "The identification key (serial, else asset tag, "
                                      "else hostname + domain, else MAC)."},
        }

    def validate_ip_address(self, value: str | None) -> str | None:
        return value or None


class ConfigurationItemDetailSerializer(ConfigurationItemSerializer):
    transitions = serializers.SerializerMethodField(
        help_text="The lifecycle moves the requesting user may make now.")

    class Meta(ConfigurationItemSerializer.Meta):
        fields = [*ConfigurationItemSerializer.Meta.fields, "transitions"]

    @extend_schema_field(TransitionSerializer(many=True))
    def get_transitions(self, ci: ConfigurationItem) -> list[dict[str, str]]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return [{"to_status": t.target, "label": str(t.label)}
                for t in ci_available_transitions(ci, user)]


class TransitionRequestSerializer(serializers.Serializer):
    to_status = StatusNameField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                 default="")


class LookupQuerySerializer(serializers.Serializer):
    """Exactly one identifier (``domain`` only goes with ``hostname``)."""

    IDENTIFIERS = ("serial", "asset_tag", "hostname", "mac", "ip")

    serial = serializers.CharField(required=False, help_text="Serial number.")
    asset_tag = serializers.CharField(required=False)
    hostname = serializers.CharField(required=False)
    domain = serializers.CharField(required=False, help_text="With hostname only.")
    mac = serializers.CharField(required=False, help_text="MAC address, any notation.")
    ip = serializers.IPAddressField(required=False, help_text="IP address.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in self.IDENTIFIERS if data.get(name)]
        if not given:
            raise serializers.ValidationError(
                _("Give one of the parameters serial, asset_tag, hostname (with domain), "
                  "mac or ip."))
        if len(given) > 1:
            raise serializers.ValidationError({
                name: [_("Give only one identifier (got %(names)s).")
                       % {"names": ", ".join(given)}] for name in given[1:]})
        if data.get("domain") and given != ["hostname"]:
            raise serializers.ValidationError({"domain": [_("Only with hostname.")]})
        return data


class ImpactQuerySerializer(serializers.Serializer):
    direction = serializers.ChoiceField(
        choices=[("up", "up"), ("down", "down")], default="up",
        help_text="up: what depends on this CI (affected if it fails); down: what it needs.")
    depth = serializers.IntegerField(min_value=1, max_value=MAX_IMPACT_DEPTH,
                                     default=DEFAULT_IMPACT_DEPTH,
                                     help_text="Links to follow, 1 to 10.")


class ImpactNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    class_ = serializers.CharField(help_text="Class key.")
    status = serializers.ChoiceField(choices=CIStatus.choices)
    criticality = serializers.IntegerField()
    distance = serializers.IntegerField(help_text="Links from the root (0: the root).")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["class"] = fields.pop("class_")  # "class" is a Python keyword
        return fields


class ImpactEdgeSerializer(serializers.Serializer):
    source = serializers.IntegerField()
    target = serializers.IntegerField()
    type = serializers.CharField(help_text="Relationship type key.")
    label = serializers.CharField(help_text="Relationship type name, read source → target.")


class ImpactSerializer(serializers.Serializer):
    root = serializers.IntegerField(help_text="The CI the analysis starts from.")
    direction = serializers.ChoiceField(choices=[("up", "up"), ("down", "down")])
    depth = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="More CIs were reached than returned.")
    nodes = ImpactNodeSerializer(many=True)
    edges = ImpactEdgeSerializer(many=True)


class HealthCauseSerializer(serializers.Serializer):
    ci = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    ci = serializers.IntegerField()
    status = serializers.CharField(
        help_text="operational, degraded (something it depends on has an outage) or down "
                  "(the service itself has one).")
    causes = HealthCauseSerializer(many=True, help_text="The CIs with an open outage behind "
                                                        "the status (the service or what it "
                                                        "depends on).")


# --- Relationships --------------------------------------------------------------------

class RelationshipSerializer(serializers.ModelSerializer):
    source = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"), help_text="CI id.")
    target = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"), help_text="CI id.")
    type = serializers.SlugRelatedField(slug_field="key",
                                        queryset=RelationshipType.objects.all(),
                                        help_text="Relationship type key.")
    source_name = serializers.CharField(source="source.name", read_only=True)
    target_name = serializers.CharField(source="target.name", read_only=True)
    type_name = serializers.CharField(source="type.name", read_only=True)
    reverse_name = serializers.CharField(source="type.reverse_name", read_only=True)

    class Meta:
        model = Relationship
        fields = ["id", "source", "source_name", "type", "type_name", "reverse_name",
                  "target", "target_name", "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []  # duplicates are the service's to refuse (409)


# --- Licences and installations -------------------------------------------------------

class SoftwareLicenceSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"),
        help_text="Id of a CI of the software product class.")
    product_name = serializers.CharField(source="product.name", read_only=True)
    owner_team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(),
                                                    required=False, allow_null=True)

    class Meta:
        model = SoftwareLicence
        fields = ["id", "product", "product_name", "name", "metric", "entitlement_count",
                  "expiry_date", "owner_team", "supplier", "cost", "created_at"]
        read_only_fields = ["created_at"]


class ComplianceRowSerializer(serializers.Serializer):
    product = serializers.IntegerField(help_text="Software product CI id.")
    product_name = serializers.CharField()
    metric = serializers.ChoiceField(choices=LicenceMetric.choices)
    entitled = serializers.IntegerField(help_text="Entitlements of unexpired licences.")
    installed = serializers.IntegerField(
        help_text="Devices it is installed on (per device), or distinct users of those "
                  "devices (per user).")
    available = serializers.IntegerField(help_text="entitled - installed (negative when "
                                                   "over-deployed).")
    over_deployed = serializers.BooleanField()
    licences = serializers.ListField(child=serializers.IntegerField(),
                                     help_text="Ids of the unexpired licences counted.")


class InstallationSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"),
        help_text="Id of a software product CI.")
    device = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"),
        help_text="Id of a server, virtual machine, workstation or mobile device CI.")
    product_name = serializers.CharField(source="product.name", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    source = serializers.ChoiceField(choices=InstallationSource.choices,
                                     default=InstallationSource.MANUAL)

    class Meta:
        model = Installation
        fields = ["id", "product", "product_name", "device", "device_name", "version",
                  "source", "discovered_at"]
        read_only_fields = ["discovered_at"]
        validators: list = []  # duplicates are the service's to refuse (409)
