"""Which devices a run reaches: the targets an operator chose resolved to devices, and
each device checked for whether it can receive the action (agent, platform, the agent's
own policy, freezes, the template's CI classes). The preview and the start use the same
code, so what the preview promises is what the run does."""

from __future__ import annotations

import datetime
import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from cmdb.models import CIClass, ConfigurationItem, Relationship, Tag
from fleet.models import Agent
from itsm.errors import DomainError

from .models import ActionVersion

MAX_DEVICES = 20000


class Device(NamedTuple):
    """What the preview and the start read of a device. Tuples, not models: a run to
    10,000 devices built 10,000 model instances of each kind (a third of its start)."""

    pk: int
    name: str
    ci_class_id: int


class DeviceAgent(NamedTuple):
    pk: Any
    device_id: int
    revoked_at: datetime.datetime | None
    os_name: str
    policy_text: str | None  # the agent's policy as stored JSON text (read once per text)
    online: bool


@dataclass
class Preview:
    """What a run would do now: the devices that receive it (online first, then by
    name), how many of them are offline, and those left out with the reason."""

    eligible: list[tuple[Device, DeviceAgent]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offline(self) -> int:
        return sum(1 for _device, agent in self.eligible if not agent.online)

    @property
    def online(self) -> int:
        return len(self.eligible) - self.offline

    def excluded_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.excluded:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        return counts


def _refuse(field_name: str, message: str, code: str = "invalid") -> DomainError:
    return DomainError(message, code=code, fields={field_name: [message]})


def platform_of(os_name: str) -> str:
    """linux, windows or macos, from what the agent reported."""
    lowered = os_name.lower()
    if "windows" in lowered:
        return "windows"
    if "mac" in lowered or "darwin" in lowered:
        return "macos"
    return "linux"


def spec_categories(version: ActionVersion) -> set[str]:
    """The categories an agent's local policy matches (docs/agent.md, Local policy)."""
    categories = {f"risk:{version.risk}",
                  f"builtin:{version.builtin}" if version.builtin else "script"}
    if version.read_only:
        categories.add("read-only")
    return categories


DEFAULT_POLICY = ("snapshot", "query:*")


def policy_allows(policy: dict[str, Any], version: ActionVersion) -> bool:
    """The agent's reported policy, read the way the agent reads it."""
    allow = policy.get("allow") if isinstance(policy, dict) else None
    entries = allow if isinstance(allow, list) else list(DEFAULT_POLICY)
    categories = spec_categories(version)
    for entry in entries:
        if not isinstance(entry, str):
            continue
        if entry.startswith("category:"):
            if entry.removeprefix("category:") in categories:
                return True
        elif fnmatch.fnmatchcase(version.action.name, entry):
            return True
    return False


def ticket_devices(roots: list[ConfigurationItem]) -> list[Device]:
    """The ticket's CIs and the CIs one relationship away from them (the devices behind
    a service, the service's servers), keeping those with an endpoint agent."""
    ids = {ci.pk for ci in roots}
    if not ids:
        return []
    near = Relationship.objects.filter(Q(source_id__in=ids) | Q(target_id__in=ids))
    for source, target in near.values_list("source_id", "target_id"):
        ids.update((source, target))
    return _light(ConfigurationItem.objects.filter(pk__in=ids, agent__isnull=False)
                  .order_by("name", "pk"))


TICKETS = ("incident", "change", "problem")


def resolve(targets: Any, *, incident: Any = None, change: Any = None,
            problem: Any = None) -> list[Device]:
    """The devices the targets name. ``targets``: ``devices`` (CI ids), ``tag`` (a tag's
    name), ``ci_class`` (a class key), ``query`` (devices whose name, hostname or location
    contains the text: "Store 017") and/or ``ticket`` (true: every device linked to the
    run's incident, change and problem; "incident", "change" or "problem": that ticket's
    only); several keys add up."""
    if not isinstance(targets, dict) or not targets:
        raise _refuse("targets", _("Choose the targets: devices, a tag, a CI class or the "
                                   "ticket's devices."))
    unknown = set(targets) - {"devices", "tag", "ci_class", "query", "ticket"}
    if unknown:
        raise _refuse("targets", _("Unknown target keys: %(keys)s.")
                      % {"keys": ", ".join(sorted(unknown))})
    found: dict[int, Device] = {}
    devices = targets.get("devices") or []
    if devices:
        if not isinstance(devices, list) or not all(
                isinstance(pk, int) and not isinstance(pk, bool) for pk in devices):
            raise _refuse("targets.devices", _("Device ids are whole numbers."))
        rows = {ci.pk: ci for ci in _light(ConfigurationItem.objects.filter(pk__in=devices))}
        missing = [pk for pk in devices if pk not in rows]
        if missing:
            raise _refuse("targets.devices", _("No such device: %(ids)s.")
                          % {"ids": ", ".join(map(str, missing[:10]))})
        found.update(rows)
    if targets.get("tag"):
        tag = Tag.objects.filter(name=str(targets["tag"])).first()
        if tag is None:
            raise _refuse("targets.tag", _("No tag is called “%(tag)s”.")
                          % {"tag": targets["tag"]})
        found.update({ci.pk: ci for ci in _light(ConfigurationItem.objects.filter(tags=tag))})
    if targets.get("ci_class"):
        ci_class = CIClass.objects.filter(key=str(targets["ci_class"])).first()
        if ci_class is None:
            raise _refuse("targets.ci_class", _("No CI class “%(key)s”.")
                          % {"key": targets["ci_class"]})
        found.update({ci.pk: ci for ci in _light(
            ConfigurationItem.objects.filter(ci_class=ci_class))})
    if targets.get("query"):
        text = str(targets["query"]).strip()
        if len(text) < 2:
            raise _refuse("targets.query", _("Give at least two characters."))
        found.update({ci.pk: ci for ci in _light(ConfigurationItem.objects.filter(
            Q(name__icontains=text) | Q(hostname__icontains=text)
            | Q(location__icontains=text), agent__isnull=False))})
    if targets.get("ticket"):
        which = targets["ticket"]
        if which is not True and which not in TICKETS:
            raise _refuse("targets.ticket", _("The ticket's devices: true, or one of "
                                              "incident, change, problem."))
        if which is not True:
            incident, change, problem = (value if name == which else None for name, value
                                         in zip(TICKETS, (incident, change, problem),
                                                strict=True))
            if (incident, change, problem) == (None, None, None):
                raise _refuse("targets.ticket", _("The run has no %(ticket)s to take "
                                                  "devices from.") % {"ticket": which})
        roots = _ticket_roots(incident, change, problem)
        if not roots:
            raise _refuse("targets.ticket", _("The run's ticket names no CI or service to "
                                              "take devices from."))
        found.update({ci.pk: ci for ci in ticket_devices(roots)})
    if not found:
        raise _refuse("targets", _("These targets match no device."), code="no_targets")
    if len(found) > MAX_DEVICES:
        raise _refuse("targets", _("These targets match %(n)d devices; a run reaches at most "
                                   "%(max)d.") % {"n": len(found), "max": MAX_DEVICES})
    return sorted(found.values(), key=lambda ci: (ci.name, ci.pk))


def _light(devices: Any) -> list[Device]:
    return [Device(*row) for row in devices.values_list("pk", "name", "ci_class_id")]


def _ticket_roots(incident: Any, change: Any, problem: Any = None) -> list[Any]:
    roots: list[Any] = []
    if incident is not None:
        roots += [ci for ci in (incident.ci, incident.service) if ci is not None]
    if change is not None:
        roots += [*change.cis.all(), *change.services.all()]
    if problem is not None:
        roots += problem_roots(problem)
    return roots


def problem_roots(problem: Any) -> list[Device]:
    """What a problem stands on: its own CIs and services, and the CI and service of
    every incident linked to it (in two queries, however many incidents)."""
    from incidents.models import Incident

    ids = set(problem.cis.values_list("pk", flat=True))
    ids.update(problem.services.values_list("pk", flat=True))
    for ci_id, service_id in Incident.objects.filter(
            problem_links__problem=problem).values_list("ci_id", "service_id"):
        ids.update(pk for pk in (ci_id, service_id) if pk)
    return _light(ConfigurationItem.objects.filter(pk__in=ids))


def preview(version: ActionVersion, devices: list[Device], *,
            freeze_allowed: bool, allowed_classes: set[int] | None = None,
            now: datetime.datetime | None = None,
            until: datetime.datetime | None = None) -> Preview:
    """Check each device; ``freeze_allowed`` (an authorised emergency change that
    overrides freezes) lets devices in a freeze through."""
    from changes.conflicts import freezes_touching

    now = now or timezone.now()
    # Policies as text: 10,000 agents share a few, each decoded and checked once.
    agents = {agent.device_id: agent for agent in map(DeviceAgent._make, Agent.objects.filter(
        device__in=[ci.pk for ci in devices]).annotate(
        policy_text=Cast("policy", output_field=TextField())).values_list(
        "pk", "device_id", "revoked_at", "os_name", "policy_text", "online"))}
    freezes = {} if freeze_allowed else freezes_touching(
        devices, now, until or now + datetime.timedelta(minutes=5))
    everywhere = freezes.get(None, [])
    result = Preview()
    platforms = set(version.platforms or [])
    allowed_by_policy: dict[str | None, bool] = {}

    def allows(policy_text: str | None) -> bool:
        if policy_text not in allowed_by_policy:
            allowed_by_policy[policy_text] = policy_allows(
                json.loads(policy_text) if policy_text else {}, version)
        return allowed_by_policy[policy_text]

    def leave_out(ci: Device, kind: str, reason: str) -> None:
        result.excluded.append({"device": ci.pk, "name": ci.name, "kind": kind,
                                "reason": reason})

    for ci in devices:
        agent = agents.get(ci.pk)
        if agent is None:
            leave_out(ci, "no_agent", _("No endpoint agent on this device."))
        elif agent.revoked_at is not None:
            leave_out(ci, "revoked", _("Its agent was revoked."))
        elif platforms and platform_of(agent.os_name) not in platforms:
            leave_out(ci, "platform", _("The action runs on %(list)s; this device runs "
                                        "%(os)s.") % {"list": ", ".join(sorted(platforms)),
                                                      "os": agent.os_name or _("an unknown OS")})
        elif allowed_classes and ci.ci_class_id not in allowed_classes:
            leave_out(ci, "template_class", _("The standard change template does not allow "
                                              "this kind of CI."))
        elif not allows(agent.policy_text):
            leave_out(ci, "policy", _("The device's local policy does not allow this "
                                      "action."))
        elif everywhere or freezes.get(ci.pk):
            reasons = [*everywhere, *freezes.get(ci.pk, [])]
            leave_out(ci, "freeze", _("%(reason)s A run there needs an authorised emergency "
                                      "change.") % {"reason": reasons[0]})
        else:
            result.eligible.append((ci, agent))
    result.eligible.sort(key=lambda pair: (not pair[1].online, pair[0].name, pair[0].pk))
    return result
