"""Approval and CAB pages, included by ``changes/urls.py`` under /desk/changes/ in the
"changes" namespace (no app_name here)."""

from django.urls import path

from . import approval_views as views

urlpatterns = [
    path("approvals/", views.InboxView.as_view(), name="approval_inbox"),
    path("approvals/tasks/<int:pk>/vote/", views.VoteView.as_view(), name="approval_vote"),
    path("approvals/<int:pk>/override/", views.OverrideView.as_view(),
         name="approval_override"),
    path("approvals/<int:pk>/information/", views.ProvideInfoView.as_view(),
         name="approval_provide_info"),
    path("approvals/policies/", views.PolicyListView.as_view(), name="policy_list"),
    path("approvals/policies/new/", views.PolicyCreateView.as_view(), name="policy_create"),
    path("approvals/policies/<int:pk>/", views.PolicyEditView.as_view(), name="policy_edit"),
    path("cab/", views.CabListView.as_view(), name="cab_list"),
    path("cab/new/", views.CabCreateView.as_view(), name="cab_create"),
    path("cab/<int:pk>/", views.CabDetailView.as_view(), name="cab_detail"),
    path("cab/<int:pk>/agenda/build/", views.CabBuildAgendaView.as_view(),
         name="cab_build_agenda"),
    path("cab/<int:pk>/agenda/add/", views.CabItemAddView.as_view(), name="cab_item_add"),
    path("cab/items/<int:pk>/remove/", views.CabItemRemoveView.as_view(),
         name="cab_item_remove"),
    path("cab/items/<int:pk>/decision/", views.CabDecisionView.as_view(), name="cab_decision"),
    path("cab/<int:pk>/minutes/", views.CabMinutesView.as_view(), name="cab_minutes"),
    path("cab/<int:pk>/hold/", views.CabHoldView.as_view(), name="cab_hold"),
]
