from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incident management")

    def ready(self) -> None:
        from cmdb.selectors import register_health_provider
        from desk.saved_views import SavedViewList, register_saved_view_list
        from tickets.services import register_ticket_hook

        from .filtersets import IncidentFilterSet
        from .health import open_outages
        from .notifications import incident_notifications

        register_health_provider(open_outages)
        register_ticket_hook(incident_notifications)
        register_saved_view_list(SavedViewList(
            key="incidents.incident", label=_("incidents"), url_name="incidents:list",
            filterset=IncidentFilterSet))
