from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = _("Service levels")

    def ready(self) -> None:
        from tickets.services import register_ticket_observer

        from .engine import ticket_observer

        register_ticket_observer(ticket_observer)
        self._watch_definitions()

    @staticmethod
    def _watch_definitions() -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from itsm.config_cache import config_changed

        from . import models
        from .definitions import AGREEMENTS_CONFIG, CALENDARS_CONFIG

        changed = {AGREEMENTS_CONFIG: config_changed(AGREEMENTS_CONFIG),
                   CALENDARS_CONFIG: config_changed(CALENDARS_CONFIG)}
        watched = {
            AGREEMENTS_CONFIG: (models.Agreement, models.Target, models.Threshold,
                                models.BusinessCalendar),
            CALENDARS_CONFIG: (models.BusinessCalendar, models.WorkingInterval,
                               models.Holiday, models.CalendarException),
        }
        for name, senders in watched.items():
            for model in senders:
                for signal in (post_save, post_delete):
                    signal.connect(changed[name], sender=model, weak=False,
                                   dispatch_uid=f"sla.{name}.{model.__name__}.{signal}")
        for through in (models.Agreement.categories.through, models.Agreement.services.through,
                        models.Agreement.assignment_groups.through):
            m2m_changed.connect(changed[AGREEMENTS_CONFIG], sender=through, weak=False,
                                dispatch_uid=f"sla.agreements.{through.__name__}")
