"""Routes of the schedule pages, included by ``changes/urls.py`` under the "changes"
namespace (at /desk/changes/)."""

from django.urls import path

from . import schedule_views as views

urlpatterns = [
    path("schedule/", views.ScheduleCalendarView.as_view(), name="schedule_calendar"),
    path("schedule/calendar.ics", views.ScheduleIcsView.as_view(), name="schedule_ics"),
    path("schedule/<int:pk>/conflicts/check/", views.ConflictsCheckView.as_view(),
         name="schedule_conflicts_check"),
    path("schedule/<int:pk>/conflicts/preview/", views.ConflictsPreviewView.as_view(),
         name="schedule_conflicts_preview"),
    path("windows/", views.WindowListView.as_view(), name="window_list"),
    path("windows/new/", views.WindowFormView.as_view(), name="window_create"),
    path("windows/<int:pk>/edit/", views.WindowFormView.as_view(), name="window_edit"),
    path("windows/<int:pk>/delete/", views.WindowDeleteView.as_view(), name="window_delete"),
]
