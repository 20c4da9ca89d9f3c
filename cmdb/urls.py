from django.urls import include, path

app_name = "cmdb"
urlpatterns = [
    path("import/", include("cmdb.urls_import")),
]
