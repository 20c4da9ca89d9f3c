from django.urls import path

from . import metrics_views, views

app_name = "incidents"
urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("new/", views.IncidentCreateView.as_view(), name="create"),
    # Before "<str:key>/", which would take "metrics" for an incident number.
    path("metrics/", metrics_views.IncidentMetricsView.as_view(), name="metrics"),
    path("<str:key>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<str:key>/transition/", views.IncidentTransitionView.as_view(), name="transition"),
    path("<str:key>/respond/", views.IncidentRespondView.as_view(), name="respond"),
    path("<str:key>/assign/", views.IncidentAssignView.as_view(), name="assign"),
    path("<str:key>/priority/", views.IncidentPriorityView.as_view(), name="priority"),
]
