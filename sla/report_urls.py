"""Desk URLs of the SLA reports (included at desk/sla/reports/)."""

from django.urls import path

from . import report_views

app_name = "sla_reports"
urlpatterns = [
    path("", report_views.SlaReportView.as_view(), name="index"),
    path("summary.csv", report_views.SlaSummaryCsvView.as_view(), name="summary_csv"),
    path("breaches.csv", report_views.SlaBreachesCsvView.as_view(), name="breaches_csv"),
]
