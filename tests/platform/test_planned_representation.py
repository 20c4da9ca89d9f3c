"""PlannedRepresentation (itsm/api/representation.py) gives exactly DRF's output."""

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from incidents import services
from incidents.api.serializers import IncidentSerializer
from incidents.major_selectors import with_family
from incidents.models import Category, Incident
from incidents.selectors import incidents_for_api
from itsm.api.representation import PlannedRepresentation, _plan_for
from tests.factories import TeamFactory, UserFactory

RESOLUTION = {"resolution_code": "solved_permanently", "resolution_notes": "Replaced the cable."}


def drf_output(serializer, incident):
    return serializers.ModelSerializer.to_representation(serializer, incident)


def test_incidents_read_the_same_as_through_drf(db):
    TeamFactory(name="Service Desk", is_service_desk=True)
    agent = UserFactory(username="rep-agent", roles=["service_desk_agent"])
    caller = UserFactory(username="rep-caller", roles=["requester"])
    hardware = Category.objects.create(name="Hardware")
    laptop = Category.objects.create(name="Laptop", parent=hardware)
    plain = services.incident_create(actor=caller, title="Plain")
    full = services.incident_create(actor=agent, title="Full", requester=caller,
                                    category=hardware, subcategory=laptop, impact=1, urgency=1,
                                    description="Every field the form has.")
    child = services.incident_create(actor=agent, title="Child", requester=caller, parent=full)
    resolved = services.incident_create(actor=agent, title="Resolved", requester=caller)
    resolved = services.incident_transition(actor=agent, incident=resolved,
                                            to_state="resolved", **RESOLUTION)
    request = APIRequestFactory().get("/api/v1/incidents/")
    request.user = get_user_model().objects.get(pk=agent.pk)
    rows = with_family(incidents_for_api()).filter(
        pk__in=[plain.pk, full.pk, child.pk, resolved.pk])
    assert rows.count() == 4
    for incident in rows:
        serializer = IncidentSerializer(context={"request": request})
        planned = serializer.to_representation(incident)
        assert planned == drf_output(IncidentSerializer(context={"request": request}),
                                     incident)
        assert list(planned) == IncidentSerializer.Meta.fields
    # The values are real, not empty: spot-check some of each kind.
    by_title = {row["title"]: row for row in IncidentSerializer(
        rows, many=True, context={"request": request}).data}
    assert by_title["Full"]["category"] == hardware.pk
    assert by_title["Full"]["priority"] == 1
    assert by_title["Full"]["children_count"] == 1
    assert by_title["Child"]["parent_number"] == full.number
    assert by_title["Resolved"]["resolved_at"].endswith("Z")
    assert by_title["Resolved"]["state_label"] == "Resolved"
    assert by_title["Plain"]["category"] is None


class Nested(PlannedRepresentation, serializers.ModelSerializer):
    requester = serializers.StringRelatedField()

    class Meta:
        model = Incident
        fields = ["id", "requester"]


class Dotted(PlannedRepresentation, serializers.ModelSerializer):
    group_name = serializers.CharField(source="assignment_group.name", default=None)

    class Meta:
        model = Incident
        fields = ["id", "group_name"]


def test_fields_it_does_not_know_keep_drfs_path(db):
    assert _plan_for(Nested()) is None
    assert _plan_for(Dotted()) is None
    caller = UserFactory(username="rep-nested", roles=["requester"])
    TeamFactory(name="Service Desk", is_service_desk=True)
    incident = services.incident_create(actor=caller, title="Nested")
    assert Nested().to_representation(incident) == {"id": incident.pk,
                                                    "requester": str(caller)}
    assert Dotted().to_representation(incident)["group_name"] == "Service Desk"
