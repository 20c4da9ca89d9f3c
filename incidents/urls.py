from django.urls import path

from . import bulk_views, edit_views, major_views, metrics_views, picker_views, views

app_name = "incidents"
urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("new/", views.IncidentCreateView.as_view(), name="create"),
    # Before "<str:key>/", which would take "metrics" for an incident number.
    path("metrics/", metrics_views.IncidentMetricsView.as_view(), name="metrics"),
    path("bulk/", bulk_views.IncidentBulkView.as_view(), name="bulk"),
    path("bulk/members/", bulk_views.GroupMembersView.as_view(), name="group_members"),
    path("subcategories/", picker_views.SubcategoryOptionsView.as_view(),
         name="subcategory_options"),
    path("similar/", views.IncidentSimilarView.as_view(), name="similar"),
    path("<str:key>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<str:key>/edit/", edit_views.IncidentEditView.as_view(), name="edit"),
    path("<str:key>/transition/", views.IncidentTransitionView.as_view(), name="transition"),
    path("<str:key>/respond/", views.IncidentRespondView.as_view(), name="respond"),
    path("<str:key>/assign/", views.IncidentAssignView.as_view(), name="assign"),
    path("<str:key>/priority/", views.IncidentPriorityView.as_view(), name="priority"),
    # Major incidents, parent and children, the post-incident review (major_views.py).
    path("<str:key>/sla/", views.IncidentSlaView.as_view(), name="sla"),
    path("<str:key>/major/declare/", major_views.DeclareMajorView.as_view(),
         name="declare_major"),
    path("<str:key>/major/stand-down/", major_views.StandDownView.as_view(), name="stand_down"),
    path("<str:key>/major/updates/", major_views.StakeholderUpdateView.as_view(),
         name="stakeholder_update"),
    path("<str:key>/major/subscribe/", major_views.SubscribeView.as_view(), name="subscribe"),
    path("<str:key>/parent/", major_views.LinkParentView.as_view(), name="link_parent"),
    path("<str:key>/children/<str:child>/unlink/", major_views.UnlinkView.as_view(),
         name="unlink_child"),
    path("<str:key>/review/", major_views.ReviewView.as_view(), name="review"),
    path("<str:key>/review/start/", major_views.ReviewStartView.as_view(), name="review_start"),
    path("<str:key>/review/complete/", major_views.ReviewCompleteView.as_view(),
         name="review_complete"),
    path("<str:key>/review/actions/", major_views.ReviewActionAddView.as_view(),
         name="review_action_add"),
    path("<str:key>/review/actions/<int:pk>/", major_views.ReviewActionEditView.as_view(),
         name="review_action"),
    path("<str:key>/similar/", views.IncidentSimilarToView.as_view(), name="similar_to"),
    path("<str:key>/escalate/", views.IncidentEscalateView.as_view(), name="escalate"),
]
