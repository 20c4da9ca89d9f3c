# CSV import pages (cmdb/views_import.py); included by cmdb/urls.py under "import/".
urlpatterns: list = []
