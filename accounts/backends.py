"""Permissions kept in the cache between requests.

Django's ``ModelBackend`` reads a user's permissions with two queries on the first
``has_perm`` of every request. Every API call and desk page asks, so the answer is kept in
the shared cache under a version token (``itsm.config_cache``): any change to who is in
which group, or to what a group or a user may do, replaces the token and every cached
answer is dropped at once. ``is_active`` is still read from the user on each check;
``is_superuser`` is part of the key. The session's user is loaded with their profile,
which every page reads.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from itsm.config_cache import config_version

PERMISSIONS_CONFIG = "auth.permissions"  # its version token (itsm/config_cache.py)
TIMEOUT = 600


class CachedPermissionBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        """The signed-in user with their profile (every page reads it: time zone, name)."""
        from django.contrib.auth import get_user_model

        model = get_user_model()
        try:
            user = model._default_manager.select_related("profile").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            version = config_version(PERMISSIONS_CONFIG)
            key = f"auth:perms:{version}:{user_obj.pk}:{int(user_obj.is_superuser)}"
            permissions = cache.get(key)
            if permissions is None:
                permissions = super().get_all_permissions(user_obj)
                cache.set(key, permissions, TIMEOUT)
            user_obj._perm_cache = set(permissions)
        return user_obj._perm_cache
