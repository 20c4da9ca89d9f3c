from django.urls import path

from . import views

app_name = "knowledge"
urlpatterns = [
    path("", views.ArticleListView.as_view(), name="article_list"),
    path("new/", views.ArticleCreateView.as_view(), name="article_create"),
    path("panel/", views.SearchPanelView.as_view(), name="search_panel"),
    path("from-incident/<str:number>/", views.FromIncidentView.as_view(),
         name="from_incident"),
    path("versions/<int:pk>/<str:step>/", views.VersionActionView.as_view(),
         name="version_action"),
    path("<str:number>/", views.ArticleDetailView.as_view(), name="article_detail"),
    path("<str:number>/edit/", views.ArticleEditView.as_view(), name="article_edit"),
    path("<str:number>/retire/", views.ArticleRetireView.as_view(), name="article_retire"),
    path("<str:number>/reviewed/", views.ArticleReviewedView.as_view(),
         name="article_reviewed"),
    path("<str:number>/attach/", views.ArticleAttachView.as_view(), name="article_attach"),
]
