from django.urls import path

from . import views
from .kedb_urls import urlpatterns as kedb_urlpatterns

app_name = "problems"
urlpatterns = [
    path("", views.ProblemListView.as_view(), name="list"),
    path("new/", views.ProblemCreateView.as_view(), name="create"),
    path("lookup/", views.ProblemLookupView.as_view(), name="lookup"),
    path("changes/lookup/", views.ChangeLookupView.as_view(), name="change_lookup"),
    path("incident/<str:incident>/link/", views.IncidentLinkToProblemView.as_view(),
         name="incident_link"),
    # Room for the known-error pages (the "kedb" work) before "<str:key>/".
    *kedb_urlpatterns,
    path("<str:key>/", views.ProblemDetailView.as_view(), name="detail"),
    path("<str:key>/edit/", views.ProblemEditView.as_view(), name="edit"),
    path("<str:key>/transition/", views.ProblemTransitionView.as_view(), name="transition"),
    path("<str:key>/resolve/", views.ProblemResolveView.as_view(), name="resolve"),
    path("<str:key>/incidents/", views.ProblemLinkView.as_view(), name="link"),
    path("<str:key>/incidents/<str:incident>/unlink/", views.ProblemUnlinkView.as_view(),
         name="unlink"),
    path("<str:key>/known-error/", views.ProblemKnownErrorView.as_view(), name="known_error"),
    path("<str:key>/five-whys/", views.ProblemFiveWhysView.as_view(), name="five_whys"),
    path("<str:key>/comment/", views.ProblemCommentView.as_view(), name="comment"),
]
