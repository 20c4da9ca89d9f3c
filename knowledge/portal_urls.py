from django.urls import path

from . import portal_views

app_name = "knowledge_portal"
urlpatterns = [
    path("", portal_views.knowledge_home, name="home"),
    path("suggest/", portal_views.knowledge_suggest, name="suggest"),
    path("category/<slug:slug>/", portal_views.knowledge_category, name="category"),
    path("<str:number>/", portal_views.knowledge_article, name="article"),
    path("<str:number>/feedback/", portal_views.knowledge_feedback, name="feedback"),
]
