from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProblemsConfig(AppConfig):
    name = "problems"
    verbose_name = _("Problem management")

    def ready(self) -> None:
        from desk.saved_views import SavedViewList, register_saved_view_list

        from .filtersets import ProblemFilterSet

        register_saved_view_list(SavedViewList(
            key="problems.problem", label=_("problems"), url_name="problems:list",
            filterset=ProblemFilterSet))
