"""A ticket's SLA timers as the API shows them (``GET /api/v1/incidents/{id}/sla/``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import Timer


class TimerSerializer(serializers.ModelSerializer):
    agreement_name = serializers.CharField(source="agreement.name", read_only=True)
    calendar_name = serializers.CharField(source="calendar.name", read_only=True)
    goal_minutes = serializers.SerializerMethodField()
    pauses = serializers.SerializerMethodField()
    percent_used = serializers.SerializerMethodField()
    business_seconds_left = serializers.SerializerMethodField()

    class Meta:
        model = Timer
        fields = ["id", "kind", "metric", "state", "agreement", "agreement_name", "target",
                  "calendar", "calendar_name", "goal_minutes", "started_at", "due_at",
                  "paused_since", "pause_reason", "pauses", "breached_at", "stopped_at",
                  "warned_percent", "next_percent", "percent_used", "business_seconds_left",
                  "reason", "cancelled_reason"]
        read_only_fields = fields

    def _progress(self, timer: Timer) -> dict[str, Any]:
        from .engine import progress

        cache = self.context.setdefault("sla_progress", {})
        if timer.pk not in cache:
            cache[timer.pk] = progress(timer)
        return cache[timer.pk]

    def get_goal_minutes(self, timer: Timer) -> int:
        return timer.goal_seconds // 60

    def get_pauses(self, timer: Timer) -> list[dict[str, str | None]]:
        pauses: list[dict[str, str | None]] = [
            {"from": a.isoformat(), "to": b.isoformat()} for a, b in timer.pauses()]
        if timer.paused_since:
            pauses.append({"from": timer.paused_since.isoformat(), "to": None})
        return pauses

    def get_percent_used(self, timer: Timer) -> float:
        return round(self._progress(timer)["percent"], 2)

    def get_business_seconds_left(self, timer: Timer) -> int:
        return int(self._progress(timer)["left_seconds"])
