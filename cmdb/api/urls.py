from rest_framework.routers import SimpleRouter

from .views import (
    CIClassViewSet,
    ConfigurationItemViewSet,
    InstallationViewSet,
    RelationshipTypeViewSet,
    RelationshipViewSet,
    SoftwareLicenceViewSet,
)

router = SimpleRouter()
router.register("cmdb/classes", CIClassViewSet, basename="cmdb-class")
router.register("cmdb/relationship-types", RelationshipTypeViewSet,
                basename="cmdb-relationship-type")
router.register("cmdb/cis", ConfigurationItemViewSet, basename="cmdb-ci")
router.register("cmdb/relationships", RelationshipViewSet, basename="cmdb-relationship")
router.register("cmdb/licences", SoftwareLicenceViewSet, basename="cmdb-licence")
router.register("cmdb/installations", InstallationViewSet, basename="cmdb-installation")
urlpatterns = router.urls
