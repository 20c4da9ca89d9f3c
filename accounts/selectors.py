"""Reads for people and teams, shared by the desk, the portal and the API."""

from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet

from itsm.config_cache import cached_config

from .models import ApiToken, Team, TeamMembership

User = get_user_model()


def people() -> QuerySet:
    return User.objects.select_related("profile", "profile__manager").prefetch_related(
        "groups", Prefetch("teams", queryset=Team.objects.only("id", "name"))
    )


def teams() -> QuerySet[Team]:
    return Team.objects.select_related("manager", "manager__profile").annotate(
        member_count=Count("memberships", distinct=True)
    )


def team_members(team: Team) -> QuerySet:
    return (
        User.objects.filter(team_memberships__team=team)
        .select_related("profile").prefetch_related("groups").order_by("first_name", "username")
    )


class RosterEntry(NamedTuple):
    team_id: int
    team_name: str
    user_id: int
    username: str
    name: str  # the profile's display name, else the full name (may be empty)


ROSTER_CONFIG = "accounts.roster"


def team_roster() -> list[RosterEntry]:
    """Every active person in every active team, by team name then person name: the
    assignee drop-downs. Kept in memory until a team, membership, person or profile
    changes (``itsm.config_cache``; AccountsConfig connects the signals), since every
    incident queue page shows it."""
    return cached_config(ROSTER_CONFIG, _read_roster)


def _read_roster() -> list[RosterEntry]:
    rows = (TeamMembership.objects.filter(team__is_active=True, user__is_active=True)
            .order_by("team__name", "user__first_name", "user__last_name", "user__username")
            .values_list("team_id", "team__name", "user_id", "user__username",
                         "user__first_name", "user__last_name",
                         "user__profile__display_name"))
    return [RosterEntry(team_id, team, user_id, username,
                        display or f"{first} {last}".strip())
            for team_id, team, user_id, username, first, last, display in rows]


def api_tokens_of(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def service_desk_team() -> Team | None:
    return Team.objects.filter(is_service_desk=True, is_active=True).first()


def search_people(term: str) -> Q:
    term = term.strip()
    return (
        Q(username__icontains=term) | Q(first_name__icontains=term)
        | Q(last_name__icontains=term) | Q(email__icontains=term)
        | Q(profile__display_name__icontains=term)
    )
