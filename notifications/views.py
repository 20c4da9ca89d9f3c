"""The inbox page: your notifications newest first, unread ones highlighted. Opening one
marks it read and follows its link; "Mark all read" clears the bell. Both are POSTs
(CSRF-protected). The page sits in the desk's frame for desk staff and in the portal's
for everyone else (or when the portal's bell asks with ``?layout=portal``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from .filtersets import NotificationFilterSet
from .selectors import notifications_of
from .services import notifications_mark_read

PAGE_SIZE = 30


def _layout(request: HttpRequest) -> str:
    asked = request.POST.get("layout") or request.GET.get("layout")
    if asked == "portal" or not request.user.has_perm("accounts.access_desk"):
        return "portal"
    return "desk"


def _inbox_url(layout: str, **params: Any) -> str:
    query = {**({"layout": layout} if layout == "portal" else {}),
             **{k: v for k, v in params.items() if v}}
    return reverse("notifications:inbox") + (f"?{urlencode(query)}" if query else "")


def local_path(url: str) -> str | None:
    """``url`` when it is a path on this site (``/desk/…``); None for anything that could
    leave it (``//host``, ``https://…``, ``javascript:``, backslash tricks)."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return None
    if not url_has_allowed_host_and_scheme(url, allowed_hosts=set()):
        return None
    return url


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    layout = _layout(request)
    filterset = NotificationFilterSet(request.GET, queryset=notifications_of(request.user))
    status = 200
    if not filterset.is_valid():
        items, older, status = [], None, 400
    else:
        items_qs = filterset.qs
        before = request.GET.get("before", "")
        if before.isdigit():
            items_qs = items_qs.filter(pk__lt=int(before))
        elif before:
            status = 400
        window = list(items_qs[:PAGE_SIZE + 1]) if status == 200 else []
        items = window[:PAGE_SIZE]
        older = items[-1].pk if len(window) > PAGE_SIZE else None
    unread_only = request.GET.get("unread") == "true"
    return render(request, "notifications/inbox.html", {
        "base_template": f"{layout}/base.html",
        "layout": layout,
        "items": items,
        "filter": filterset,
        "unread_only": unread_only,
        "has_unread": notifications_of(request.user).filter(read_at__isnull=True).exists(),
        "older_url": _inbox_url(layout, unread="true" if unread_only else "", before=older)
        if older else None,
        "first_url": _inbox_url(layout, unread="true" if unread_only else "")
        if request.GET.get("before") else None,
        "all_url": _inbox_url(layout),
        "unread_url": _inbox_url(layout, unread="true"),
    }, status=status)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    marked = notifications_mark_read(user=request.user)
    messages.success(request, _("%(n)d notifications marked read.") % {"n": marked}
                     if marked != 1 else _("1 notification marked read."))
    return HttpResponseRedirect(_inbox_url(_layout(request)))


@login_required
@require_POST
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark it read and go where it points. Someone else's notification is a 404."""
    note = notifications_of(request.user).filter(pk=pk).first()
    if note is None:
        raise Http404(_("No such notification."))
    notifications_mark_read(user=request.user, ids=[note.pk])
    return HttpResponseRedirect(local_path(note.url) or _inbox_url(_layout(request)))
