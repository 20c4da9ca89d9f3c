from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("People and teams")

    def ready(self) -> None:
        from .roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
        self._watch_permissions()
        self._watch_roster()

    @staticmethod
    def _watch_permissions() -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from itsm.config_cache import config_changed

        from .backends import PERMISSIONS_CONFIG

        permissions_changed = config_changed(PERMISSIONS_CONFIG)

        user = get_user_model()
        for through in (user.groups.through, user.user_permissions.through,
                        Group.permissions.through):
            m2m_changed.connect(permissions_changed, sender=through, weak=False,
                                dispatch_uid=f"accounts.perms.{through.__name__}")
        for model in (Group, Permission):
            for signal in (post_save, post_delete):
                signal.connect(permissions_changed, sender=model, weak=False,
                               dispatch_uid=f"accounts.perms.{model.__name__}.{signal}")

    @staticmethod
    def _watch_roster() -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from itsm.config_cache import config_changed

        from .models import Team, TeamMembership, UserProfile
        from .selectors import ROSTER_CONFIG

        roster_changed = config_changed(ROSTER_CONFIG)
        for model in (Team, TeamMembership, UserProfile, get_user_model()):
            for signal in (post_save, post_delete):
                signal.connect(roster_changed, sender=model, weak=False,
                               dispatch_uid=f"accounts.roster.{model.__name__}.{signal}")
