from django.urls import path
from rest_framework.routers import SimpleRouter

from .metrics import IncidentMetricsView
from .views import IncidentViewSet

router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
urlpatterns = [
    # Before the router's incidents/{pk}/ routes, which would take "metrics" for an id.
    path("incidents/metrics/", IncidentMetricsView.as_view(), name="incident-metrics"),
    *router.urls,
]
