"""Test-only URLs of the risk area: the site's, with the risk routes under /desk/changes/
(namespace "changes", with a stand-in change page until the lead's changes/urls.py lands)
and the risk API on a router of its own, its actions mixed into a stand-in change
viewset as the lead's ChangeViewSet will."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import viewsets
from rest_framework.routers import DefaultRouter

from changes import risk_urls
from changes.api.risk import (
    DESK,
    ChangeMetricsViewSet,
    ChangeRiskReviewActions,
    RiskQuestionViewSet,
)
from changes.models import Change
from itsm.urls import urlpatterns as site_urlpatterns


def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(f"change {pk}")


class ChangeViewSet(ChangeRiskReviewActions, viewsets.GenericViewSet):
    permission_classes = DESK
    queryset = Change.objects.all()
    lookup_value_regex = r"\d+"


try:  # once the lead's changes/urls.py lands, it includes risk_urls and the real page
    from changes.urls import urlpatterns as change_urlpatterns
except ImportError:
    change_urlpatterns = [*risk_urls.urlpatterns,
                          path("<int:pk>/", change_detail, name="detail")]

router = DefaultRouter()
router.register("changes/risk-questions", RiskQuestionViewSet, basename="change-risk-question")
router.register("changes/metrics", ChangeMetricsViewSet, basename="change-metrics")
router.register("changes", ChangeViewSet, basename="change")

urlpatterns = [
    path("desk/changes/", include((change_urlpatterns, "changes"))),
    path("api/v1/", include(router.urls)),
    *site_urlpatterns,
]
