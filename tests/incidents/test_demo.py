from django.core.management import call_command

from incidents.models import Incident, IncidentState


def test_demo_holds_incidents_in_every_state(db):
    call_command("load_demo", "--quiet")
    states = set(Incident.objects.values_list("state", flat=True))
    assert states == {s.value for s in IncidentState}
    count = Incident.objects.count()
    call_command("load_demo", "--quiet")
    assert Incident.objects.count() == count
    held = Incident.objects.filter(state="on_hold").first()
    assert held.hold_reason == "awaiting_caller" and held.first_response_at is not None
