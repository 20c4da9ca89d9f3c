from django.urls import path

from accounts.views import ProfileView

from . import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", ProfileView.as_view(layout="portal"), name="profile"),
]
