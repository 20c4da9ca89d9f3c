from django.urls import path

from . import views

app_name = "fleet"
urlpatterns = [
    path("", views.DeviceListView.as_view(), name="device_list"),
    path("<uuid:pk>/", views.DeviceDetailView.as_view(), name="device_detail"),
    path("<uuid:pk>/refresh/", views.DeviceRefreshView.as_view(), name="device_refresh"),
    path("<uuid:pk>/revoke/", views.DeviceRevokeView.as_view(), name="device_revoke"),
    path("questions/", views.QuestionListView.as_view(), name="question_list"),
    path("questions/<int:pk>/", views.QuestionDetailView.as_view(), name="question_detail"),
    path("enrolment/", views.EnrolmentView.as_view(), name="enrolment"),
    path("enrolment/groups/", views.GroupCreateView.as_view(), name="group_create"),
    path("enrolment/groups/<int:pk>/secrets/new/", views.SecretCreateView.as_view(),
         name="secret_create"),
    path("enrolment/secrets/<int:pk>/revoke/", views.SecretRevokeView.as_view(),
         name="secret_revoke"),
]
