# CSV import pages (cmdb/views_import.py); included by cmdb/urls.py under "import/".
from django.urls import path

from . import views_import

urlpatterns = [
    path("", views_import.ImportUploadView.as_view(), name="import_upload"),
    path("template/<str:kind>.csv", views_import.ImportTemplateView.as_view(),
         name="import_template"),
    path("<int:pk>/", views_import.ImportJobView.as_view(), name="import_job"),
    path("<int:pk>/apply/", views_import.ImportApplyView.as_view(), name="import_apply"),
    path("<int:pk>/cancel/", views_import.ImportCancelView.as_view(), name="import_cancel"),
]
