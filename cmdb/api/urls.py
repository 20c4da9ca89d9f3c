from rest_framework.routers import SimpleRouter

router = SimpleRouter()
# The CMDB viewsets register here (cmdb/api/views.py).
urlpatterns = router.urls
