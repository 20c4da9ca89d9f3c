from django.urls import path
from django.views.generic import RedirectView

from . import library_views, run_views

app_name = "remediation"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="remediation:run_list"), name="index"),
    path("runs/", run_views.RunListView.as_view(), name="run_list"),
    path("runs/new/", run_views.RunStartView.as_view(), name="run_start"),
    path("runs/<int:pk>/", run_views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/continue/", run_views.RunContinueView.as_view(), name="run_continue"),
    path("runs/<int:pk>/cancel/", run_views.RunCancelView.as_view(), name="run_cancel"),
    path("runs/<int:pk>/executions/<uuid:execution>/", run_views.ExecutionOutputView.as_view(),
         name="execution_output"),
    path("actions/", library_views.ActionListView.as_view(), name="action_list"),
    path("actions/new/", library_views.ActionCreateView.as_view(), name="action_create"),
    path("actions/<int:pk>/", library_views.ActionDetailView.as_view(), name="action_detail"),
    path("actions/<int:pk>/edit/", library_views.ActionEditView.as_view(), name="action_edit"),
    path("actions/<int:pk>/versions/new/", library_views.VersionNewView.as_view(),
         name="version_new"),
    path("versions/<int:pk>/edit/", library_views.VersionEditView.as_view(),
         name="version_edit"),
    path("versions/<int:pk>/approve/", library_views.VersionApproveView.as_view(),
         name="version_approve"),
    path("versions/<int:pk>/retire/", library_views.VersionRetireView.as_view(),
         name="version_retire"),
]
