from django.urls import include, path

from . import risk_urls, template_views, views

app_name = "changes"
urlpatterns = [
    path("", views.ChangeListView.as_view(), name="list"),
    path("new/", views.ChangeCreateView.as_view(), name="create"),
    path("incidents/lookup/", views.IncidentLookupView.as_view(), name="incident_lookup"),
    path("members/", views.GroupMembersView.as_view(), name="group_members"),
    # The standard change catalogue (template_views.py).
    path("templates/", template_views.TemplateListView.as_view(), name="template_list"),
    path("templates/new/", template_views.TemplateCreateView.as_view(),
         name="template_create"),
    path("templates/<int:pk>/", template_views.TemplateDetailView.as_view(),
         name="template_detail"),
    path("templates/<int:pk>/use/", template_views.TemplateUseView.as_view(),
         name="template_use"),
    path("templates/<int:pk>/cis/", template_views.TemplateCILookupView.as_view(),
         name="template_ci_lookup"),
    path("templates/<int:pk>/versions/new/", template_views.TemplateVersionNewView.as_view(),
         name="template_version_new"),
    path("templates/versions/<int:pk>/edit/", template_views.TemplateVersionEditView.as_view(),
         name="template_version_edit"),
    path("templates/versions/<int:pk>/approve/",
         template_views.TemplateVersionApproveView.as_view(), name="template_version_approve"),
    path("templates/versions/<int:pk>/retire/",
         template_views.TemplateVersionRetireView.as_view(), name="template_version_retire"),
    # The change record (views.py).
    path("<int:pk>/", views.ChangeDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.ChangeEditView.as_view(), name="edit"),
    path("<int:pk>/transition/", views.ChangeTransitionView.as_view(), name="transition"),
    path("<int:pk>/comment/", views.ChangeCommentView.as_view(), name="comment"),
    *risk_urls.urlpatterns,
    path("", include("changes.schedule_urls")),
    path("", include("changes.approval_urls")),
]
