from rest_framework.routers import SimpleRouter

from .kedb import urlpatterns as kedb_urlpatterns
from .views import ProblemViewSet

router = SimpleRouter()
router.register("problems", ProblemViewSet, basename="problem")
urlpatterns = [*kedb_urlpatterns, *router.urls]
