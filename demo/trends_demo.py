"""Demo trend detection: recent incidents that form clusters, and a detection run, so the
Trends page has proposals to decide.

- five incidents on the warehouse application server ``wms-app-01`` in the last ten days,
  in different words (a CI cluster);
- four reports of Teams calls dropping from callers across the company, with no CI or
  service (a text cluster);
- four incidents on the Manchester warehouse access point ``ap-man-wh-01``, whose
  proposal the problem manager has dismissed (the access points are being replaced).

The incidents are written through the incident services and then given their ages;
detection is the real service. Idempotent: the incidents are found by their first title,
and a second detection run with the same incidents changes nothing."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from cmdb.models import ConfigurationItem
from demo.incident_history import _retime
from incidents import services as incident_services
from incidents.models import Channel, Incident
from trends import services
from trends.models import ClusterKind, Proposal, ProposalState

User = get_user_model()

DAY = datetime.timedelta(days=1)
WAREHOUSE_CI = "wms-app-01"
WAREHOUSE_SERVICE = "Warehouse Management"
ACCESS_POINT = "ap-man-wh-01"
DISMISS_REASON = ("The Manchester warehouse access points are replaced next week (the "
                  "wireless refresh): nothing to investigate until then.")
# title, description, caller, days ago, impact, urgency
WAREHOUSE = (
    ("Handheld scanners cannot post picks", "The morning shift's picks stay pending on the "
     "handhelds.", "chloe.nguyen", 9.2, 2, 2),
    ("Shipment confirmation takes minutes to save", "Each confirmation spins for two or "
     "three minutes.", "finn.evans", 6.1, 3, 2),
    ("Pick lists stop printing at the Manchester warehouse", "Nothing comes out of the "
     "label printers since 06:00.", "oscar.rossi", 4.3, 2, 2),
    ("Goods-in screen freezes after login", "The receiving clerks have to restart the "
     "client.", "chloe.nguyen", 2.4, 3, 2),
    ("Stock counts are not saved at the end of the shift", "Cycle counts entered tonight "
     "were lost.", "finn.evans", 0.8, 2, 1),
)
TEAMS_CALLS = (
    ("Teams calls drop after a few minutes", "Calls end without warning, on the laptop "
     "and on the phone.", "amelia.clarke", 8.0),
    ("Teams call dropped in the middle of a customer meeting", "Second time this week the "
     "call dropped.", "noah.fischer", 5.5),
    ("Teams calls drop every 10 minutes", "Everyone on the call is cut off together.",
     "isla.novak", 3.2),
    ("Calls on Teams keep dropping", "From home and from the office alike.", "leo.patel",
     1.1),
)
ACCESS_POINT_INCIDENTS = (
    ("Wi-Fi drops near the loading bay", "Handhelds lose the network by bay 3.",
     "oscar.rossi", 11.0),
    ("Scanners lose the network in aisle 7", "They reconnect after a minute or two.",
     "finn.evans", 8.4),
    ("No wireless signal by the dock doors", "Zero bars at the dock doors since Monday.",
     "oscar.rossi", 5.0),
    ("Warehouse office Wi-Fi very slow", "Pages take ages to load in the office.",
     "chloe.nguyen", 3.6),
)


def _person(username: str, fallback: User) -> User:
    return User.objects.filter(username=username).first() or fallback


def _log(agent: User, title: str, description: str, caller: str, age: datetime.timedelta,
         **fields) -> None:
    incident = incident_services.incident_create(
        actor=agent, title=title, requester=_person(caller, agent), description=description,
        **fields)
    _retime(incident, [("created_at", timezone.now() - age)])  # its timeline moves too


def _seed(agent: User) -> None:
    cis = {ci.name: ci for ci in ConfigurationItem.objects.filter(
        name__in=(WAREHOUSE_CI, WAREHOUSE_SERVICE, ACCESS_POINT))}
    for title, description, caller, days, impact, urgency in WAREHOUSE:
        _log(agent, title, description, caller, days * DAY, ci=cis.get(WAREHOUSE_CI),
             service=cis.get(WAREHOUSE_SERVICE), impact=impact, urgency=urgency,
             channel=Channel.PHONE)
    for title, description, caller, days in TEAMS_CALLS:
        _log(agent, title, description, caller, days * DAY, channel=Channel.PORTAL, impact=3,
             urgency=2)
    for title, description, caller, days in ACCESS_POINT_INCIDENTS:
        _log(agent, title, description, caller, days * DAY, ci=cis.get(ACCESS_POINT),
             impact=3, urgency=2, channel=Channel.PHONE)


def load_trends() -> None:
    agent = User.objects.get(username="agent")
    if not Incident.objects.filter(title=WAREHOUSE[0][0]).exists():
        _seed(agent)
    services.detect()
    access_point = ConfigurationItem.objects.filter(name=ACCESS_POINT).first()
    proposal = Proposal.objects.filter(kind=ClusterKind.CI, ci=access_point,
                                       state=ProposalState.OPEN, dismiss_reason="").first()
    if access_point is not None and proposal is not None:
        services.proposal_dismiss(actor=User.objects.get(username="problem.manager"),
                                  proposal=proposal, reason=DISMISS_REASON)
