from django.urls import path

from . import picker_views, saved_view_views, views

app_name = "desk"
urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("profile/", views.DeskProfileView.as_view(), name="profile"),
    path("people/", views.PeopleListView.as_view(), name="people"),
    path("people/lookup/", picker_views.PeopleLookupView.as_view(), name="people_lookup"),
    path("people/new/", views.PersonFormView.as_view(), name="person_create"),
    path("people/<int:pk>/", views.PersonDetailView.as_view(), name="person_detail"),
    path("people/<int:pk>/edit/", views.PersonFormView.as_view(), name="person_edit"),
    path("teams/", views.TeamListView.as_view(), name="teams"),
    path("teams/new/", views.TeamFormView.as_view(), name="team_create"),
    path("teams/<int:pk>/", views.TeamDetailView.as_view(), name="team_detail"),
    path("teams/<int:pk>/edit/", views.TeamFormView.as_view(), name="team_edit"),
    path("audit/", views.AuditLogView.as_view(), name="audit"),
    path("saved-views/", saved_view_views.SavedViewCreateView.as_view(),
         name="saved_view_create"),
    path("saved-views/<int:pk>/delete/", saved_view_views.SavedViewDeleteView.as_view(),
         name="saved_view_delete"),
]
