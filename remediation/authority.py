"""What allows a run: a standard change template that names the action, an approved
change within its schedule, or, for a read-only action, an open incident or an open
problem. Checked when the run starts and again before each wave is sent, so an authority
that lapses (the change's window ended, the template was retired, the problem was
resolved) stops the run instead of letting it go on."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from itsm.errors import DomainError

from .models import ActionVersion, AuthorityKind

APPROVED_CHANGE_STATES = ("scheduled", "implement")


@dataclass
class Authority:
    kind: str
    change: Any = None
    template_version: Any = None
    incident: Any = None
    # The problem the run fixes everywhere: the authority itself (kind "problem",
    # read-only actions), or only recorded with another kind, so that its devices can be
    # the targets and the summary reaches its timeline.
    problem: Any = None

    @property
    def freeze_allowed(self) -> bool:
        """An authorised emergency change overriding freezes may run inside them."""
        from changes.conflicts import freeze_override_allowed

        return self.change is not None and freeze_override_allowed(self.change, {})

    @property
    def allowed_classes(self) -> set[int] | None:
        template = self.template_version or (self.change.template_version
                                             if self.change is not None else None)
        if template is None:
            return None
        return set(template.allowed_ci_classes.values_list("pk", flat=True)) or None

    def describe(self) -> str:
        if self.kind == AuthorityKind.CHANGE:
            return _("change %(ref)s") % {"ref": self.change.number}
        if self.kind == AuthorityKind.TEMPLATE:
            return _("standard change template “%(name)s” v%(n)s") % {
                "name": self.template_version.template.name, "n": self.template_version.version}
        if self.kind == AuthorityKind.PROBLEM:
            return _("problem %(ref)s") % {"ref": self.problem.number}
        return _("incident %(ref)s") % {"ref": self.incident.number}


def _refuse(field_name: str, message: str, code: str) -> DomainError:
    return DomainError(message, code=code, fields={field_name: [message]})


def _when(moment: datetime.datetime | None) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "—"


def authority_check(version: ActionVersion, authority: Authority,
                    now: datetime.datetime | None = None) -> None:
    """Raise why ``authority`` does not allow ``version`` to run now, if it does not."""
    from changes.models import TemplateStatus

    now = now or timezone.now()
    name = version.action.name
    if authority.kind == AuthorityKind.TEMPLATE:
        template = authority.template_version
        if template is None:
            raise _refuse("template_version", _("Choose the standard change template."),
                          "authority_missing")
        if template.status != TemplateStatus.APPROVED:
            raise _refuse("template_version", _("This template version is %(status)s: only "
                                                "an approved one authorises a run.")
                          % {"status": template.get_status_display().lower()},
                          "authority_not_approved")
        if template.remediation_action != name:
            raise _refuse("template_version", _("This template does not name the action "
                                                "“%(name)s”.") % {"name": name},
                          "authority_other_action")
    elif authority.kind == AuthorityKind.CHANGE:
        change = authority.change
        if change is None:
            raise _refuse("change", _("Choose the approved change."), "authority_missing")
        if change.state not in APPROVED_CHANGE_STATES:
            raise _refuse("change", _("%(ref)s is %(state)s: a run needs an approved change "
                                      "(scheduled or being implemented).")
                          % {"ref": change.number,
                             "state": change.get_state_display().lower()},
                          "authority_not_approved")
        if change.template_version_id and change.template_version.remediation_action != name:
            raise _refuse("change", _("%(ref)s is a standard change whose template does not "
                                      "name the action “%(name)s”.")
                          % {"ref": change.number, "name": name}, "authority_other_action")
        start, end = change.planned_start, change.planned_end
        if start is None or end is None or not (start <= now < end):
            raise _refuse("change", _("%(ref)s is scheduled from %(start)s to %(end)s: a run "
                                      "under it runs only within that window.")
                          % {"ref": change.number, "start": _when(start), "end": _when(end)},
                          "outside_change_window")
    elif authority.kind == AuthorityKind.INCIDENT:
        from incidents.models import OPEN_STATES

        incident = authority.incident
        if incident is None:
            raise _refuse("incident", _("Choose the incident."), "authority_missing")
        if not version.read_only:
            raise _refuse("authority_kind", _("“%(name)s” changes devices: under an incident "
                                              "only read-only actions run. Choose a change "
                                              "or a standard change template.")
                          % {"name": name}, "authority_read_only")
        if incident.state not in OPEN_STATES:
            raise _refuse("incident", _("%(ref)s is %(state)s: a run needs an open incident.")
                          % {"ref": incident.number,
                             "state": incident.get_state_display().lower()},
                          "authority_closed")
    elif authority.kind == AuthorityKind.PROBLEM:
        _problem_check(version, authority.problem)
    else:
        raise _refuse("authority_kind", _("Choose what authorises the run."),
                      "authority_missing")


def _problem_check(version: ActionVersion, problem: Any) -> None:
    """Under a problem alone only read-only actions run (finding out where the known
    error is), and only while the problem is open; fixing devices needs a change."""
    from problems.workflow import OPEN_STATES

    if problem is None:
        raise _refuse("problem", _("Choose the problem."), "authority_missing")
    if not version.read_only:
        raise _refuse("authority_kind", _("“%(name)s” changes devices: under a problem only "
                                          "read-only actions run. To fix the devices, choose "
                                          "an approved change (or a standard change "
                                          "template); the run is still reported on %(ref)s.")
                      % {"name": version.action.name, "ref": problem.number},
                      "authority_read_only")
    if problem.state not in OPEN_STATES:
        raise _refuse("problem", _("%(ref)s is %(state)s: a run under a problem needs an open "
                                   "one.") % {"ref": problem.number,
                                              "state": problem.get_state_display().lower()},
                      "authority_closed")
