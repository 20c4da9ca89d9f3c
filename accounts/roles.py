"""Roles are Django groups with a declared set of permissions.

This table is the single source: ``post_migrate`` (and ``manage.py sync_roles``) makes the
groups match it. Each practice adds its permissions to the roles here when it lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

DESK = "accounts.access_desk"
CMDB_EDIT = (
    "cmdb.add_configurationitem", "cmdb.change_configurationitem",
    "cmdb.import_configurationitem", "cmdb.add_relationship", "cmdb.delete_relationship",
    "cmdb.add_softwarelicence", "cmdb.change_softwarelicence", "cmdb.add_installation",
    "cmdb.delete_installation",
)

# SLA definitions and business calendars: the administrator (every permission) and the
# service level manager. Incident managers work under the agreements, they do not set them.
SLA_MANAGE = "sla.manage_sla"
# Change enablement: templates, approval policies, windows and overrides; being asked to
# approve (business approvers outside the desk are named on a policy instead).
CHANGE_MANAGE = "changes.manage_changes"
CHANGE_APPROVE = "changes.approve_change"
# The endpoint fleet: seeing devices and asking live questions (read-only) is desk work;
# enrolment secrets admit devices into the CMDB and the signed-job channel, and revoking
# an agent cuts it off, so managing the fleet stays with the asset manager (who owns the
# device records), apart from the operators who run jobs on the devices.
FLEET_VIEW = "fleet.view_fleet"
FLEET_MANAGE = "fleet.manage_fleet"
# Problem management: creating, analysing, resolving problems and publishing known errors.
# The desk (agents, resolvers) sees problems and links incidents to them with DESK alone.
PROBLEM_MANAGE = "problems.manage_problem"
# The knowledge base: desk people draft articles; a knowledge manager reviews (four eyes)
# and publishes or retires them.
KNOWLEDGE_WRITE = "knowledge.add_article"
KNOWLEDGE_MANAGE = ("knowledge.add_article", "knowledge.review_article",
                    "knowledge.publish_article")
# Trend detection proposes problems; problem managers accept or dismiss the proposals.
TRENDS_DECIDE = "trends.decide_proposal"


@dataclass(frozen=True)
class Role:
    key: str
    name: str  # the group's name
    description: Any
    permissions: tuple[str, ...]
    all_permissions: bool = False


ROLES: tuple[Role, ...] = (
    Role("requester", "Requester", _("Uses the self-service portal only."), ()),
    Role("service_desk_agent", "Service desk agent",
         _("First line: logs, triages and resolves tickets in the desk."),
         (DESK, FLEET_VIEW, KNOWLEDGE_WRITE)),
    Role("resolver", "Resolver", _("Works tickets assigned to their teams."),
         (DESK, FLEET_VIEW, KNOWLEDGE_WRITE)),
    Role("incident_manager", "Incident manager",
         _("Owns the incident practice and major incidents."),
         (DESK, "audit.view_auditentry", "incidents.override_priority",
          "incidents.manage_major_incidents", FLEET_VIEW)),
    Role("service_level_manager", "Service level manager",
         _("Owns service levels: agreements, targets, thresholds and business calendars."),
         (DESK, "audit.view_auditentry", SLA_MANAGE)),
    Role("problem_manager", "Problem manager",
         _("Owns problems, root cause and known errors."),
         (DESK, "audit.view_auditentry", PROBLEM_MANAGE, TRENDS_DECIDE)),
    Role("change_manager", "Change manager",
         _("Owns change enablement and the CAB."),
         (DESK, "audit.view_auditentry", "cmdb.add_relationship", "cmdb.delete_relationship",
          CHANGE_MANAGE, CHANGE_APPROVE)),
    Role("cab_member", "CAB member", _("Approves or rejects changes."),
         (DESK, CHANGE_APPROVE)),
    Role("asset_manager", "Asset manager",
         _("Owns the CMDB, assets and licences."),
         (DESK, *CMDB_EDIT, FLEET_VIEW, FLEET_MANAGE)),
    Role("remediation_operator", "Remediation operator",
         _("Writes remediation actions and starts approved runs on endpoints."),
         (DESK, FLEET_VIEW, "remediation.add_action", "remediation.run_action")),
    Role("remediation_approver", "Remediation approver",
         _("Approves remediation action versions (four eyes)."),
         (DESK, FLEET_VIEW, "remediation.approve_actionversion")),
    Role("knowledge_manager", "Knowledge manager",
         _("Owns the knowledge base: reviews articles (four eyes), publishes and retires "
           "them."), (DESK, *KNOWLEDGE_MANAGE)),
    Role("administrator", "Administrator",
         _("Configures the platform, people, teams and roles."), (), all_permissions=True),
)
ROLES_BY_KEY = {role.key: role for role in ROLES}
ROLES_BY_NAME = {role.name: role for role in ROLES}


def _permissions(codes: tuple[str, ...]) -> list[Permission]:
    query = Q(pk__in=[])
    for code in codes:
        app_label, codename = code.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query))
    missing = set(codes) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Roles name permissions that do not exist: {sorted(missing)}")
    return found


def sync_roles() -> None:
    """Create or update one group per role with exactly the declared permissions."""
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role.name)
        if role.all_permissions:
            group.permissions.set(Permission.objects.all())
        else:
            group.permissions.set(_permissions(role.permissions))


def sync_roles_after_migrate(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    # Run once, after the last app has had its permissions created.
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if app_config is None or app_config is not with_models[-1]:
        return
    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles()
