"""Test-only URLs: the site's, plus the schedule's desk routes under the "changes"
namespace (with a stand-in change page) and its API viewsets, until the lead wires them
in changes/urls.py and itsm/urls.py."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from changes.api.schedule import ChangeConflictsViewSet, ScheduleViewSet, WindowViewSet
from changes.schedule_urls import urlpatterns as schedule_patterns
from itsm.urls import urlpatterns as site_patterns


def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(f"change {pk}")


router = SimpleRouter()
router.register("changes/windows", WindowViewSet, basename="change-window")
router.register("changes/schedule", ScheduleViewSet, basename="change-schedule")
router.register("changes", ChangeConflictsViewSet, basename="change")

urlpatterns = [
    path("desk/changes/", include(([
        *schedule_patterns, path("<int:pk>/", change_detail, name="detail"),
    ], "changes"))),
    path("api/v1/", include(router.urls)),
    *site_patterns,
]
