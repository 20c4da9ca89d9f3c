"""The known error database and "fix everywhere" on desk pages:

- ``{% load kedb_tags %}{% incident_known_errors incident %}``: the incident page's
  "Known errors" box, loaded by htmx after the page (the known errors it is linked to with
  their workaround, and those that may match with "Link to this known error");
- ``{% fix_everywhere problem request.user %}``: the problem page's "Fix everywhere"
  panel: how many devices stand behind the problem (its linked incidents' CIs and
  services, its own), its remediation runs, and the button that opens the run form
  prefilled with the problem."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()
RUNS_SHOWN = 10


@register.inclusion_tag("problems/_incident_known_errors_box.html")
def incident_known_errors(incident: Any) -> dict[str, Any]:
    return {"incident": incident}


def problem_device_counts(problem: Any) -> dict[str, int]:
    """Devices with an agent behind the problem (as the run form's "all devices of the
    ticket" resolves them), how many are online, and the incidents they come from."""
    from fleet.models import Agent
    from remediation.targets import problem_roots, ticket_devices

    devices = [ci.pk for ci in ticket_devices(problem_roots(problem))]
    online = Agent.objects.filter(device_id__in=devices, online=True,
                                  revoked_at__isnull=True).count() if devices else 0
    return {"devices": len(devices), "online": online,
            "incidents": problem.incident_links.count(),
            "cis": problem.cis.count() + problem.services.count()}


@register.inclusion_tag("problems/_fix_everywhere.html")
def fix_everywhere(problem: Any, user: Any) -> dict[str, Any]:
    from remediation.access import can_view
    from remediation.run_views import RUN_TONE, run_rows
    from remediation.runs import RUN

    if not can_view(user):
        return {"shown": False}
    rows = list(run_rows(problem.remediation_runs.all()).order_by("-created_at", "-id")
                [:RUNS_SHOWN])
    for run in rows:
        run.tone = RUN_TONE[run.state]
    return {"shown": True, "problem": problem, "runs": rows, "more": len(rows) == RUNS_SHOWN,
            "can_run": user.has_perm(RUN), "counts": problem_device_counts(problem),
            "is_open": problem.is_open}
