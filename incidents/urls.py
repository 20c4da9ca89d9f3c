from django.urls import path

from . import bulk_views, edit_views, picker_views, views

app_name = "incidents"
urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("new/", views.IncidentCreateView.as_view(), name="create"),
    path("bulk/", bulk_views.IncidentBulkView.as_view(), name="bulk"),
    path("bulk/members/", bulk_views.GroupMembersView.as_view(), name="group_members"),
    path("subcategories/", picker_views.SubcategoryOptionsView.as_view(),
         name="subcategory_options"),
    path("<str:key>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<str:key>/edit/", edit_views.IncidentEditView.as_view(), name="edit"),
    path("<str:key>/transition/", views.IncidentTransitionView.as_view(), name="transition"),
    path("<str:key>/respond/", views.IncidentRespondView.as_view(), name="respond"),
    path("<str:key>/assign/", views.IncidentAssignView.as_view(), name="assign"),
    path("<str:key>/priority/", views.IncidentPriorityView.as_view(), name="priority"),
]
