"""Writes of trend detection: :func:`detect` (the periodic task's one service) turns the
clusters of :mod:`trends.clusters` into proposals; :func:`proposal_accept` opens the
problem with the cluster's incidents linked; :func:`proposal_dismiss` sets a proposal
aside with a reason. Every change is audited.

Detection is idempotent. A proposal is one row per ``(kind, key)``:

- a new cluster makes an open proposal;
- an open proposal follows its cluster (its incidents replaced when they changed);
- a dismissed proposal stays dismissed until its cluster has more incidents than when
  it was dismissed; then it opens again, once, noting "grew from N to M";
- an accepted proposal is never proposed again: incidents that join its cluster later
  are kept as ``new_incidents`` and shown on it, to be linked to its problem.

A proposal whose cluster is no longer found is left as it is (its ``last_seen`` tells
when it was last found).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.services import require_permission
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from cmdb.models import ConfigurationItem
from incidents.models import Category, Incident
from itsm.errors import DomainError

from .clusters import (
    ATTRIBUTES,
    Candidate,
    Cluster,
    ClusterOptions,
    attribute_groups,
    candidates,
    clusters_in,
)
from .models import ClusterKind, Proposal, ProposalState, TrendSettings

DECIDE = "trends.decide_proposal"
TITLE_MAX = Proposal._meta.get_field("title").max_length
REASON_MAX = 2000
LISTED_IN_DESCRIPTION = 10  # incident numbers named in a proposal's description


@dataclass
class DetectResult:
    """What one detection run did, by proposal id."""

    clusters: int = 0
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    grown_accepted: list[int] = field(default_factory=list)  # newcomers changed
    unchanged: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.reopened or self.grown_accepted)


def _refuse(field_name: str, message: str, code: str | None = None) -> NoReturn:
    raise DomainError(message, code=code, fields={field_name: [message]})


# --- What a proposal says -------------------------------------------------------------

@dataclass(frozen=True)
class _Names:
    cis: dict[int, str]
    categories: dict[int, str]

    @classmethod
    def load(cls, clusters: Sequence[Cluster]) -> _Names:
        ci_ids = {c.subject_id for c in clusters
                  if c.kind in (ClusterKind.CI, ClusterKind.SERVICE) and c.subject_id}
        category_ids = {c.subject_id for c in clusters
                        if c.kind == ClusterKind.CATEGORY and c.subject_id}
        cis = dict(ConfigurationItem.objects.filter(pk__in=ci_ids).values_list("pk", "name"))
        categories = {category.pk: str(category) for category in
                      Category.objects.filter(pk__in=category_ids).select_related("parent")}
        return cls(cis=cis, categories=categories)


def _subject(cluster: Cluster, names: _Names) -> str:
    if cluster.kind in (ClusterKind.CI, ClusterKind.SERVICE):
        return names.cis.get(cluster.subject_id or 0, "?")
    if cluster.kind == ClusterKind.CATEGORY:
        return names.categories.get(cluster.subject_id or 0, "?")
    return ", ".join(cluster.terms)


def _title(cluster: Cluster, names: _Names) -> str:
    subject = _subject(cluster, names)
    if cluster.kind == ClusterKind.CI:
        title = _("Recurring incidents on %(ci)s") % {"ci": subject}
    elif cluster.kind == ClusterKind.SERVICE:
        title = _("Recurring incidents affecting %(service)s") % {"service": subject}
    elif cluster.kind == ClusterKind.CATEGORY:
        title = _("Recurring incidents in %(category)s") % {"category": subject}
    else:
        shown = cluster.representative.title if cluster.representative else subject
        title = _("Recurring: %(title)s") % {"title": shown}
    return title[:TITLE_MAX]


def _day(moment: datetime.datetime) -> str:
    return date_format(timezone.localtime(moment), "j M Y")


def _description(cluster: Cluster, names: _Names, config: TrendSettings) -> str:
    subject = _subject(cluster, names)
    count = cluster.size
    values = {"count": count, "days": config.window_days, "subject": subject,
              "threshold": config.threshold}
    if cluster.kind == ClusterKind.CI:
        why = ngettext("%(count)d incident on the configuration item %(subject)s",
                       "%(count)d incidents on the configuration item %(subject)s",
                       count) % values
    elif cluster.kind == ClusterKind.SERVICE:
        why = ngettext("%(count)d incident affecting the service %(subject)s",
                       "%(count)d incidents affecting the service %(subject)s", count) % values
    elif cluster.kind == ClusterKind.CATEGORY:
        why = ngettext("%(count)d incident in the category %(subject)s",
                       "%(count)d incidents in the category %(subject)s", count) % values
    else:
        why = ngettext("%(count)d incident with similar titles and descriptions (they "
                       "share: %(subject)s)",
                       "%(count)d incidents with similar titles and descriptions (they "
                       "share: %(subject)s)", count) % values
    first, last = cluster.incidents[0], cluster.incidents[-1]
    numbers = ", ".join(c.number for c in cluster.incidents[:LISTED_IN_DESCRIPTION])
    if count > LISTED_IN_DESCRIPTION:
        numbers += " " + _("and %(more)d more") % {"more": count - LISTED_IN_DESCRIPTION}
    return "\n".join((
        _("%(why)s within %(days)d days (the threshold is %(threshold)d), not linked to "
          "any problem yet.") % {**values, "why": why},
        _("Opened between %(first)s and %(last)s: %(numbers)s.") % {
            "first": _day(first.created_at), "last": _day(last.created_at),
            "numbers": numbers},
    ))


# --- Detection ------------------------------------------------------------------------

def _options(config: TrendSettings, now: datetime.datetime) -> ClusterOptions:
    return ClusterOptions(since=now - datetime.timedelta(days=config.window_days), until=now,
                          threshold=config.threshold,
                          text_similarity=float(config.text_similarity),
                          kinds=config.kind_list)


def _incident_ids(proposals: Iterable[Proposal], relation: str = "incidents"
                  ) -> dict[int, set[int]]:
    """Each proposal's incident ids, in one query."""
    through = getattr(Proposal, relation).through
    found: dict[int, set[int]] = {proposal.pk: set() for proposal in proposals}
    rows = through.objects.filter(proposal_id__in=list(found)).values_list(
        "proposal_id", "incident_id")
    for proposal_id, incident_id in rows:
        found[proposal_id].add(incident_id)
    return found


def _text_keys(clusters: Sequence[Cluster]) -> dict[str, str]:
    """Text clusters whose words drifted keep the key of the proposal that holds most of
    their incidents: {a cluster's own key: the key to use}. Only proposals still open or
    dismissed count (an accepted one's incidents are on its problem, out of clusters)."""
    text = [cluster for cluster in clusters if cluster.kind == ClusterKind.TEXT]
    if not text:
        return {}
    proposals = list(Proposal.objects.filter(
        kind=ClusterKind.TEXT, state__in=(ProposalState.OPEN, ProposalState.DISMISSED)))
    members = _incident_ids(proposals)
    own = {cluster.key for cluster in text}
    overlaps = sorted(
        ((len(cluster.incident_ids & members[proposal.pk]), cluster.key, proposal.key)
         for cluster in text for proposal in proposals
         if cluster.incident_ids & members[proposal.pk]),
        key=lambda item: (-item[0], item[1], item[2]))
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for _count, cluster_key, proposal_key in overlaps:
        if cluster_key in keys or proposal_key in taken:
            continue
        if proposal_key != cluster_key and proposal_key in own:
            continue  # another cluster has that key as its own
        keys[cluster_key] = proposal_key
        taken.add(proposal_key)
    return keys


def _subject_fields(cluster: Cluster) -> dict[str, Any]:
    return {"ci_id": cluster.subject_id if cluster.kind == ClusterKind.CI else None,
            "service_id": cluster.subject_id if cluster.kind == ClusterKind.SERVICE else None,
            "category_id": cluster.subject_id if cluster.kind == ClusterKind.CATEGORY
            else None,
            "terms": " ".join(cluster.terms)}


def _create(cluster: Cluster, key: str, names: _Names, config: TrendSettings,
            now: datetime.datetime) -> Proposal:
    proposal = Proposal.objects.create(
        kind=cluster.kind, key=key, title=_title(cluster, names),
        description=_description(cluster, names, config), incident_count=cluster.size,
        first_seen=now, last_seen=now, **_subject_fields(cluster))
    proposal.incidents.set(sorted(cluster.incident_ids))
    audit_record(action=AuditAction.CREATE, target=proposal,
                 changes={"state": [None, ProposalState.OPEN],
                          "incident_count": [None, cluster.size],
                          "incidents": [None, _numbers(cluster.incidents)]},
                 message=_("Proposed: %(why)s") % {"why": proposal.title})
    return proposal


def _numbers(incidents: Iterable[Candidate]) -> list[str]:
    return [incident.number for incident in incidents]


def _refresh(proposal: Proposal, cluster: Cluster, names: _Names, config: TrendSettings,
             now: datetime.datetime) -> None:
    """The open proposal follows its cluster (its words, title and members)."""
    proposal.title = _title(cluster, names)
    proposal.description = _description(cluster, names, config)
    proposal.incident_count = cluster.size
    proposal.last_seen = now
    for name, value in _subject_fields(cluster).items():
        setattr(proposal, name, value)
    proposal.save()
    proposal.incidents.set(sorted(cluster.incident_ids))


def _follow_accepted(found: Sequence[Candidate], clusters: Sequence[Cluster],
                     result: DetectResult, now: datetime.datetime) -> None:
    """Accepted proposals keep the incidents that are now in their cluster (and on no
    problem) as ``new_incidents``: for a CI, service or category, every such incident in
    the window, however few; for text, the cluster of the same key."""
    groups = {kind: attribute_groups(kind, found) for kind in ATTRIBUTES}
    text = {cluster.key: cluster.incident_ids for cluster in clusters
            if cluster.kind == ClusterKind.TEXT}
    with_newcomers = Proposal.new_incidents.through.objects.values("proposal_id")
    accepted = list(Proposal.objects.select_for_update().filter(
        Q(kind=ClusterKind.CI, ci_id__in=list(groups[ClusterKind.CI]))
        | Q(kind=ClusterKind.SERVICE, service_id__in=list(groups[ClusterKind.SERVICE]))
        | Q(kind=ClusterKind.CATEGORY, category_id__in=list(groups[ClusterKind.CATEGORY]))
        | Q(kind=ClusterKind.TEXT, key__in=list(text))
        | Q(pk__in=with_newcomers), state=ProposalState.ACCEPTED))
    before = _incident_ids(accepted, "new_incidents")
    for proposal in accepted:
        if proposal.kind == ClusterKind.TEXT:
            ids = set(text.get(proposal.key, ()))
        else:
            subject = getattr(proposal, ATTRIBUTES[proposal.kind])
            ids = {candidate.pk for candidate in groups[proposal.kind].get(subject, ())}
        if ids == before[proposal.pk]:
            continue
        proposal.last_seen = now
        proposal.save(update_fields=["last_seen", "updated_at"])
        proposal.new_incidents.set(sorted(ids))
        audit_record(action=AuditAction.UPDATE, target=proposal,
                     changes={"new_incidents": [len(before[proposal.pk]), len(ids)]},
                     message=ngettext(
                         "%(count)d new incident in the cluster of this accepted proposal: "
                         "link it to its problem",
                         "%(count)d new incidents in the cluster of this accepted proposal: "
                         "link them to its problem", len(ids)) % {"count": len(ids)})
        result.grown_accepted.append(proposal.pk)


DETECT_LOCK = 0x7472656E  # "tren": the advisory lock of a detection run (PostgreSQL)


def _one_run_at_a_time() -> None:
    """Two runs at once (beat's and one started by hand) would race to create the same
    proposal; the second waits for the first's commit. SQLite's write transactions are
    serialised already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DETECT_LOCK])


@transaction.atomic
def detect(now: datetime.datetime | None = None) -> DetectResult:
    """Find the clusters of the window ending ``now`` (default: the current time) and
    bring the proposals into line with them. Acts as the current audit actor (the
    system, from the task). Running it again with the same incidents changes nothing but
    the proposals' ``last_seen``."""
    _one_run_at_a_time()
    now = now or timezone.now()
    config = TrendSettings.current()
    options = _options(config, now)
    found = candidates(options)
    clusters = clusters_in(found, options)
    result = DetectResult(clusters=len(clusters))
    renamed = _text_keys(clusters)
    keyed = [(cluster, renamed.get(cluster.key, cluster.key)) for cluster in clusters]
    existing = {(p.kind, p.key): p for p in Proposal.objects.select_for_update().filter(
        kind__in={cluster.kind for cluster in clusters},
        key__in={key for _cluster, key in keyed})}
    members = _incident_ids(existing.values())
    names = _Names.load(clusters)
    seen: list[int] = []
    for cluster, key in keyed:
        proposal = existing.get((cluster.kind, key))
        if proposal is None:
            result.created.append(_create(cluster, key, names, config, now).pk)
            continue
        if proposal.state == ProposalState.ACCEPTED:
            continue  # never proposed again: see _follow_accepted
        before = members[proposal.pk]
        ids = set(cluster.incident_ids)
        if proposal.state == ProposalState.OPEN:
            if ids == before:
                seen.append(proposal.pk)
                result.unchanged.append(proposal.pk)
                continue
            count = proposal.incident_count
            _refresh(proposal, cluster, names, config, now)
            audit_record(action=AuditAction.UPDATE, target=proposal,
                         changes={"incident_count": [count, cluster.size]},
                         message=_("The cluster changed: %(before)d → %(after)d incidents")
                         % {"before": count, "after": cluster.size})
            result.updated.append(proposal.pk)
            continue
        dismissed_at = proposal.dismissed_count or 0  # dismissed
        if cluster.size <= dismissed_at:
            seen.append(proposal.pk)
            result.unchanged.append(proposal.pk)
            continue
        note = _("Grew from %(before)d to %(after)d incidents since it was dismissed.") % {
            "before": dismissed_at, "after": cluster.size}
        proposal.state = ProposalState.OPEN
        proposal.reopened_note = note[:200]
        proposal.decided_by = None
        proposal.decided_at = None
        _refresh(proposal, cluster, names, config, now)
        audit_record(action=AuditAction.TRANSITION, target=proposal,
                     changes={"state": [ProposalState.DISMISSED, ProposalState.OPEN],
                              "incident_count": [dismissed_at, cluster.size]},
                     message=_("Proposed again: %(note)s") % {"note": note})
        result.reopened.append(proposal.pk)
    _follow_accepted(found, clusters, result, now)
    if seen:
        Proposal.objects.filter(pk__in=seen).update(last_seen=now)
    return result


# --- Decisions ------------------------------------------------------------------------

def _locked_open(proposal: Proposal) -> Proposal:
    locked = Proposal.objects.select_for_update().filter(pk=proposal.pk).first()
    if locked is None:
        _refuse("proposal", _("This proposal no longer exists."))
    if locked.state != ProposalState.OPEN:
        message = (_("This proposal was already accepted.")
                   if locked.state == ProposalState.ACCEPTED
                   else _("This proposal was already dismissed."))
        _refuse("state", message, code="already_decided")
    return locked


def _shared(values: Iterable[int | None]) -> int | None:
    """The value every incident has, if they all have the same one."""
    distinct = set(values)
    return next(iter(distinct)) if len(distinct) == 1 else None


def _problem_fields(proposal: Proposal, incidents: Sequence[Incident]) -> dict[str, Any]:
    """What the problem takes from the cluster: its subject, and the CI, service or
    category that all of its incidents share."""
    ci_id = proposal.ci_id or _shared(i.ci_id for i in incidents)
    service_id = proposal.service_id or _shared(i.service_id for i in incidents)
    category_id = proposal.category_id or _shared(
        i.subcategory_id or i.category_id for i in incidents)
    return {
        "cis": tuple(ConfigurationItem.objects.filter(pk=ci_id)) if ci_id else (),
        "services": tuple(ConfigurationItem.objects.filter(pk=service_id))
        if service_id else (),
        "category": Category.objects.filter(pk=category_id).first() if category_id else None,
    }


@transaction.atomic
@as_actor
def proposal_accept(*, actor: Any, proposal: Proposal, title: str | None = None,
                    description: str | None = None, priority: int | None = None,
                    **fields: Any) -> Any:
    """Open the problem the proposal suggests, with the cluster's incidents linked (those
    not linked to another problem meanwhile) and its CI, service or category. Without
    ``priority`` the problem takes the highest of its incidents'. ``fields`` go to
    ``problems.services.problem_create`` as they are."""
    from problems.models import ProblemIncident
    from problems.services import problem_create

    require_permission(actor, DECIDE)
    proposal = _locked_open(proposal)
    incidents = list(proposal.incidents.exclude(
        pk__in=ProblemIncident.objects.values("incident_id")).order_by("created_at", "pk"))
    if not incidents:
        _refuse("incidents", _("Every incident of this proposal is linked to a problem "
                               "already: dismiss it instead."), code="nothing_to_link")
    title = (title or "").strip() or proposal.title
    description = (description or "").strip() or proposal.description
    problem = problem_create(
        actor=actor, title=title, description=description,
        priority=priority, incidents=tuple(incidents),
        **_problem_fields(proposal, incidents), **fields)
    proposal.state = ProposalState.ACCEPTED
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    proposal.problem = problem
    proposal.save()
    audit_record(action=AuditAction.TRANSITION, target=proposal,
                 changes={"state": [ProposalState.OPEN, ProposalState.ACCEPTED],
                          "problem": [None, {"id": problem.pk, "repr": str(problem)}]},
                 message=_("Accepted: %(number)s opened with %(count)d incidents") % {
                     "number": problem.number, "count": len(incidents)})
    return problem


@transaction.atomic
@as_actor
def proposal_dismiss(*, actor: Any, proposal: Proposal, reason: str) -> Proposal:
    """Set the proposal aside, saying why. It is proposed again only when its cluster
    grows beyond the incidents it has now."""
    require_permission(actor, DECIDE)
    reason = (reason or "").strip()
    if not reason:
        _refuse("reason", _("Say why the proposal is dismissed."), code="reason_required")
    if len(reason) > REASON_MAX:
        _refuse("reason", _("At most %(limit)d characters.") % {"limit": REASON_MAX})
    proposal = _locked_open(proposal)
    proposal.state = ProposalState.DISMISSED
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    proposal.dismiss_reason = reason
    proposal.dismissed_count = proposal.incident_count
    proposal.save()
    audit_record(action=AuditAction.TRANSITION, target=proposal,
                 changes={"state": [ProposalState.OPEN, ProposalState.DISMISSED],
                          "dismiss_reason": [None, reason]},
                 message=_("Dismissed at %(count)d incidents") % {
                     "count": proposal.incident_count})
    return proposal


@transaction.atomic
@as_actor
def proposal_link_new(*, actor: Any, proposal: Proposal) -> int:
    """Link the incidents that joined an accepted proposal's cluster to its problem;
    returns how many were linked."""
    from problems.models import ProblemIncident
    from problems.services import problem_link_incident

    require_permission(actor, DECIDE)
    proposal = Proposal.objects.select_for_update(of=("self",)).select_related(
        "problem").get(pk=proposal.pk)
    if proposal.state != ProposalState.ACCEPTED or proposal.problem is None:
        _refuse("state", _("Only an accepted proposal with its problem links new incidents."),
                code="not_accepted")
    incidents = list(proposal.new_incidents.exclude(
        pk__in=ProblemIncident.objects.values("incident_id")).order_by("created_at", "pk"))
    if not incidents:
        _refuse("new_incidents", _("No new incidents to link."), code="nothing_to_link")
    for incident in incidents:
        problem_link_incident(actor=actor, problem=proposal.problem, incident=incident)
    proposal.incidents.add(*incidents)
    proposal.new_incidents.clear()
    proposal.incident_count = proposal.incidents.count()
    proposal.save(update_fields=["incident_count", "updated_at"])
    audit_record(action=AuditAction.UPDATE, target=proposal,
                 changes={"incidents": [None, [i.number for i in incidents]]},
                 message=_("%(count)d new incidents linked to %(number)s") % {
                     "count": len(incidents), "number": proposal.problem.number})
    return len(incidents)
