"""``manage.py sla_backfill``: measure the incidents that have no timers yet against the
agreements that apply now (after adopting SLAs, or adding the first agreement)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from audit.context import acting_as_system
from incidents.models import OPEN_STATES, Incident
from sla.engine import timers_backfill, timers_tick


class Command(BaseCommand):
    help = ("Start SLA timers for incidents that have none, measured from their opening "
            "(open ones only, unless --all), then fire what is due.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true",
                            help="also resolved, closed and cancelled incidents (for reports)")

    def handle(self, *args: Any, **options: Any) -> None:
        incidents = Incident.objects.order_by("pk")
        if not options["all"]:
            incidents = incidents.filter(state__in=OPEN_STATES)
        made = 0
        with acting_as_system("sla_backfill"):
            for incident in incidents.iterator(chunk_size=500):
                with transaction.atomic():
                    made += len(timers_backfill(incident))
            fired = timers_tick()
        self.stdout.write(f"{made} timers started; {fired['fired']} thresholds fired, "
                          f"{fired['skipped']} passed over.")
