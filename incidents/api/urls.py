from django.urls import path
from rest_framework.routers import SimpleRouter

from . import major
from .metrics import IncidentMetricsView
from .views import IncidentViewSet

router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
urlpatterns = [
    # Before the router's incidents/{pk}/ routes, which would take "metrics" for an id.
    path("incidents/metrics/", IncidentMetricsView.as_view(), name="incident-metrics"),
    path("incidents/<str:key>/review/", major.IncidentReviewView.as_view(),
         name="incident-review"),
    path("incidents/<str:key>/review/complete/", major.ReviewCompleteView.as_view(),
         name="incident-review-complete"),
    path("incidents/<str:key>/review/actions/", major.ReviewActionsView.as_view(),
         name="incident-review-actions"),
    path("incidents/<str:key>/review/actions/<int:action_id>/", major.ReviewActionView.as_view(),
         name="incident-review-action"),
    *router.urls,
]
