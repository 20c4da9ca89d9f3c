"""The known error pages, spliced into ``problems.urls`` (namespace ``problems``) before
its ``<str:key>/`` routes."""

from django.urls import path

from . import kedb_views

urlpatterns = [
    path("known-errors/", kedb_views.KnownErrorListView.as_view(), name="known_errors"),
    path("known-errors/suggest/", kedb_views.KnownErrorSuggestView.as_view(),
         name="known_error_suggest"),
    path("known-errors/incident/<str:key>/", kedb_views.IncidentKnownErrorsView.as_view(),
         name="incident_known_errors"),
    path("known-errors/<int:pk>/link/", kedb_views.KnownErrorLinkView.as_view(),
         name="known_error_link"),
]
