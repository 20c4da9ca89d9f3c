from django.urls import include, path

from accounts.views import ProfileView

from . import approvals, incidents, major, views

app_name = "portal"
urlpatterns = [
    path("approvals/", include(approvals.urlpatterns)),
    path("", views.home, name="home"),
    path("profile/", ProfileView.as_view(layout="portal"), name="profile"),
    path("incidents/", incidents.incident_list, name="incidents"),
    path("incidents/report/", incidents.incident_report, name="incident_report"),
    path("incidents/report/known/", incidents.incident_known, name="incident_known"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/answer/", incidents.incident_answer, name="incident_answer"),
    path("major/<int:pk>/subscribe/", major.major_subscribe, name="major_subscribe"),
    path("major/<int:pk>/unsubscribe/", major.major_unsubscribe, name="major_unsubscribe"),
]
