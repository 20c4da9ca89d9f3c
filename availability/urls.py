from django.urls import path

from . import views

app_name = "availability"
urlpatterns = [
    path("", views.ReportView.as_view(), name="report"),
    path("export.csv", views.ReportExportView.as_view(), name="report_export"),
    path("services/<int:service_pk>/outages/new/", views.OutageFormView.as_view(),
         name="outage_create"),
    path("outages/<int:pk>/edit/", views.OutageFormView.as_view(), name="outage_edit"),
    path("outages/<int:pk>/end/", views.OutageEndView.as_view(), name="outage_end"),
    path("outages/<int:pk>/delete/", views.OutageDeleteView.as_view(), name="outage_delete"),
    path("services/<int:service_pk>/maintenance/new/", views.MaintenanceFormView.as_view(),
         name="maintenance_create"),
    path("maintenance/<int:pk>/edit/", views.MaintenanceFormView.as_view(),
         name="maintenance_edit"),
    path("maintenance/<int:pk>/delete/", views.MaintenanceDeleteView.as_view(),
         name="maintenance_delete"),
    path("services/<int:service_pk>/target/", views.TargetFormView.as_view(), name="target"),
]
