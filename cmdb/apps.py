from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CmdbConfig(AppConfig):
    name = "cmdb"
    verbose_name = _("Configuration management")

    def ready(self) -> None:
        from desk.saved_views import SavedViewList, register_saved_view_list

        from .filtersets import ATTRIBUTE_PREFIX, ConfigurationItemFilterSet

        register_saved_view_list(SavedViewList(
            key="cmdb.ci", label=_("configuration items"), url_name="cmdb:ci_list",
            filterset=ConfigurationItemFilterSet, key_prefixes=(ATTRIBUTE_PREFIX,)))
