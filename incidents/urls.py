from django.urls import path

from . import views

app_name = "incidents"
urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("new/", views.IncidentCreateView.as_view(), name="create"),
    path("<str:key>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<str:key>/transition/", views.IncidentTransitionView.as_view(), name="transition"),
    path("<str:key>/respond/", views.IncidentRespondView.as_view(), name="respond"),
    path("<str:key>/assign/", views.IncidentAssignView.as_view(), name="assign"),
    path("<str:key>/priority/", views.IncidentPriorityView.as_view(), name="priority"),
    path("<str:key>/escalate/", views.IncidentEscalateView.as_view(), name="escalate"),
]
