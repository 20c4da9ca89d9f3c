"""``{% incident_problems incident user %}``: the problems an incident is linked to on its
desk page, with "Link to problem" and "Create problem from this incident"."""

from __future__ import annotations

from typing import Any

from django import template

from problems.forms import LinkToProblemForm
from problems.selectors import incident_problems as problems_of
from problems.workflow import MANAGE

register = template.Library()


@register.inclusion_tag("problems/_incident_problems.html")
def incident_problems(incident: Any, user: Any) -> dict[str, Any]:
    form = LinkToProblemForm(auto_id="id_link_%s")
    return {"incident": incident, "problems": problems_of(incident), "form": form,
            "can_create": user.has_perm(MANAGE)}
