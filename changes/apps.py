from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = _("Change enablement")

    def ready(self) -> None:
        from desk.saved_views import SavedViewList, register_saved_view_list

        from .filtersets import SORTS, ChangeFilterSet

        register_saved_view_list(SavedViewList(
            key="changes.change", label=_("changes"), url_name="changes:list",
            filterset=ChangeFilterSet, options={"sort": tuple(SORTS)}))
