import pytest

from incidents import services
from incidents.models import IncidentState
from itsm.errors import DomainError, NotPermitted
from tests.factories import TeamFactory


@pytest.fixture
def make(requester, db):
    TeamFactory(name="Service Desk", is_service_desk=True)
    return lambda title="x": services.incident_create(actor=requester, title=title)


def test_link_and_unlink_a_child(make, agent):
    parent, child = make("Mail down"), make("Cannot send mail")
    child = services.incident_link_parent(actor=agent, incident=child, parent=parent)
    assert child.parent == parent
    assert list(parent.children.all()) == [child]
    assert parent.activities.filter(body__contains=child.number, public=False).exists()
    assert child.activities.filter(changes__has_key="parent").exists()
    child = services.incident_link_parent(actor=agent, incident=child, parent=None)
    assert child.parent is None


@pytest.mark.parametrize("case", ["self", "grandchild", "parent_closed", "child_has_children"])
def test_bad_links_are_refused_with_the_reason(make, agent, case):
    a, b, c = make("a"), make("b"), make("c")
    services.incident_link_parent(actor=agent, incident=b, parent=a)
    incident, parent = {
        "self": (c, c),
        "grandchild": (c, b),
        "child_has_children": (a, c),
        "parent_closed": (c, a),
    }[case]
    if case == "parent_closed":
        services.incident_transition(actor=agent, incident=a, to_state=IncidentState.CANCELLED)
    with pytest.raises(DomainError) as error:
        services.incident_link_parent(actor=agent, incident=incident, parent=parent)
    assert "parent" in error.value.fields
    incident.refresh_from_db()
    assert incident.parent_id in (None, a.pk)


def test_only_the_desk_links(make, requester):
    with pytest.raises(NotPermitted):
        services.incident_link_parent(actor=requester, incident=make(), parent=make())
