"""Reads for people and teams, shared by the desk, the portal and the API."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet

from .models import ApiToken, Team

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
