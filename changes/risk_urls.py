"""Desk routes of the risk area, included by ``changes/urls.py`` under /desk/changes/
(namespace "changes"): the questionnaire and settings, a change's risk and review, and
the success report."""

from django.urls import path

from . import risk_views as views

urlpatterns = [
    path("risk/questions/", views.RiskQuestionListView.as_view(), name="risk_questions"),
    path("risk/questions/add/", views.RiskQuestionFormView.as_view(),
         name="risk_question_create"),
    path("risk/questions/<int:pk>/", views.RiskQuestionFormView.as_view(),
         name="risk_question_edit"),
    path("risk/questions/<int:pk>/move/", views.RiskQuestionMoveView.as_view(),
         name="risk_question_move"),
    path("risk/questions/<int:pk>/active/", views.RiskQuestionActiveView.as_view(),
         name="risk_question_active"),
    path("risk/settings/", views.ChangeSettingsView.as_view(), name="risk_settings"),
    path("<int:pk>/risk/", views.RiskAssessView.as_view(), name="risk_assess"),
    path("<int:pk>/risk/preview/", views.RiskPreviewView.as_view(), name="risk_preview"),
    path("<int:pk>/review/", views.ReviewView.as_view(), name="review_save"),
    path("<int:pk>/review/caused/<int:incident_pk>/mark/",
         views.CausedIncidentView.as_view(mark=True), name="review_mark_caused"),
    path("<int:pk>/review/caused/<int:incident_pk>/unmark/",
         views.CausedIncidentView.as_view(mark=False), name="review_unmark_caused"),
    path("reports/", views.ChangeReportView.as_view(), name="metrics_report"),
    path("reports/success.csv", views.SuccessCsvView.as_view(), name="metrics_success_csv"),
    path("reports/emergency.csv", views.EmergencyCsvView.as_view(),
         name="metrics_emergency_csv"),
]
