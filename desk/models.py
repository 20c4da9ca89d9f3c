"""What the desk keeps for the people who use it: saved views of its lists."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class SavedView(models.Model):
    """A named set of filters (a list URL's query string) for one desk list, private to
    its owner or shared with the desk. ``list_key`` names the list (``cmdb.ci``,
    ``incidents.incident``): see ``desk.saved_views`` for how a list registers."""

    list_key = models.CharField(_("list"), max_length=50)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="saved_views", verbose_name=_("owner"))
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filters"), max_length=1000, blank=True)
    shared = models.BooleanField(_("shared with the desk"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [
            # One name per person and list, whatever its case ("P1" and "p1" are one).
            models.UniqueConstraint("owner", "list_key", Lower("name"),
                                    name="desk_saved_view_unique_name"),
        ]
        indexes = [models.Index(fields=["list_key", "shared"], name="desk_saved_view_shared_idx")]

    def __str__(self) -> str:
        return self.name
