from django.urls import path

from . import views

app_name = "trends"
urlpatterns = [
    path("", views.ProposalListView.as_view(), name="list"),
    path("<int:pk>/", views.ProposalDetailView.as_view(), name="detail"),
    path("<int:pk>/accept/", views.ProposalAcceptView.as_view(), name="accept"),
    path("<int:pk>/dismiss/", views.ProposalDismissView.as_view(), name="dismiss"),
    path("<int:pk>/link-new/", views.ProposalLinkNewView.as_view(), name="link_new"),
]
