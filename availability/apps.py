from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AvailabilityConfig(AppConfig):
    name = "availability"
    verbose_name = _("Service availability")

    def ready(self) -> None:
        from tickets.services import register_ticket_observer

        from .services import incident_observer

        # Inside the transaction: the outage commits or rolls back with the incident.
        register_ticket_observer(incident_observer)
