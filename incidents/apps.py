from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incident management")

    def ready(self) -> None:
        from cmdb.selectors import register_health_provider
        from desk.saved_views import SavedViewList, register_saved_view_list
        from tickets.services import register_ticket_hook

        from .filtersets import SORTS, IncidentFilterSet
        from .health import open_outages
        from .notifications import incident_notifications

        register_health_provider(open_outages)
        self._watch_configuration()
        register_ticket_hook(incident_notifications)
        register_saved_view_list(SavedViewList(
            key="incidents.incident", label=_("incidents"), url_name="incidents:list",
            filterset=IncidentFilterSet, options={"sort": tuple(SORTS)}))

    @staticmethod
    def _watch_configuration() -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.models import Team
        from itsm.config_cache import config_changed

        from .models import Category, PriorityMatrixEntry, RoutingRule
        from .services import CATEGORY_CONFIG, MATRIX_CONFIG, ROUTING_CONFIG

        watched = ((PriorityMatrixEntry, MATRIX_CONFIG), (RoutingRule, ROUTING_CONFIG),
                   (Team, ROUTING_CONFIG),  # the rules hold their groups
                   (Category, CATEGORY_CONFIG))
        for model, name in watched:
            receiver = config_changed(name)
            for signal in (post_save, post_delete):
                signal.connect(receiver, sender=model, weak=False,
                               dispatch_uid=f"{name}.{model.__name__}.{signal}")
