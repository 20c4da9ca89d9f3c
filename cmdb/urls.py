from django.urls import include, path

from . import views

app_name = "cmdb"
urlpatterns = [
    path("", views.CIListView.as_view(), name="ci_list"),
    path("export.csv", views.CIExportView.as_view(), name="ci_export"),
    path("new/", views.CIFormView.as_view(), name="ci_create"),
    path("lookup/", views.CILookupView.as_view(), name="ci_lookup"),
    path("<int:pk>/", views.CIDetailView.as_view(), name="ci_detail"),
    path("<int:pk>/edit/", views.CIFormView.as_view(), name="ci_edit"),
    path("<int:pk>/impact.json", views.CIImpactJsonView.as_view(), name="ci_impact_json"),
    path("<int:pk>/lifecycle/", views.CITransitionView.as_view(), name="ci_transition"),
    path("<int:pk>/relationships/", views.RelationshipCreateView.as_view(),
         name="relationship_create"),
    path("<int:pk>/relationships/<int:relationship_pk>/delete/",
         views.RelationshipDeleteView.as_view(), name="relationship_delete"),
    path("<int:pk>/software/", views.InstallationCreateView.as_view(),
         name="installation_create"),
    path("<int:pk>/software/<int:installation_pk>/delete/",
         views.InstallationDeleteView.as_view(), name="installation_delete"),
    path("licences/", views.LicenceListView.as_view(), name="licence_list"),
    path("licences/new/", views.LicenceFormView.as_view(), name="licence_create"),
    path("licences/<int:pk>/edit/", views.LicenceFormView.as_view(), name="licence_edit"),
    path("import/", include("cmdb.urls_import")),
]
