from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts import views as account_views
from accounts.api.views import ApiTokenViewSet, TeamViewSet, UserViewSet
from audit.api import AuditEntryViewSet
from availability.api.views import (
    MaintenanceWindowViewSet,
    OutageViewSet,
    ServiceAvailabilityViewSet,
)
from changes.api.approvals import (
    ApprovalPolicyViewSet,
    ApprovalTaskViewSet,
    CabMeetingViewSet,
)
from changes.api.risk import ChangeMetricsViewSet, RiskQuestionViewSet
from changes.api.schedule import ScheduleViewSet, WindowViewSet
from changes.api.views import (
    ChangeTemplateVersionViewSet,
    ChangeTemplateViewSet,
    ChangeViewSet,
)
from fleet.api.views import (
    DeviceViewSet,
    EnrolmentGroupViewSet,
    EnrolmentSecretViewSet,
    LiveQueryViewSet,
)
from knowledge.api.views import ArticleViewSet as KnowledgeArticleViewSet
from knowledge.api.views import CategoryViewSet as KnowledgeCategoryViewSet
from knowledge.api.views import VersionViewSet as KnowledgeVersionViewSet
from notifications.api import NotificationViewSet
from remediation.api.views import ActionViewSet, RunViewSet, VersionViewSet
from sla import report_api as sla_report_api
from sla.api.views import AgreementViewSet, CalendarViewSet
from tickets import views as ticket_views
from trends.api.views import ProposalViewSet

from . import health

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("teams", TeamViewSet, basename="team")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("sla/calendars", CalendarViewSet, basename="sla-calendar")
router.register("sla/agreements", AgreementViewSet, basename="sla-agreement")
router.register("availability/outages", OutageViewSet, basename="availability-outage")
router.register("availability/maintenance-windows", MaintenanceWindowViewSet,
                basename="availability-maintenance-window")
router.register("availability/services", ServiceAvailabilityViewSet,
                basename="availability-service")
# Every changes/<area> prefix before "changes", whose detail route would take the name.
router.register("changes/risk-questions", RiskQuestionViewSet,
                basename="change-risk-question")
router.register("changes/metrics", ChangeMetricsViewSet, basename="change-metrics")
router.register("changes/approvals", ApprovalTaskViewSet, basename="change-approval")
router.register("changes/approval-policies", ApprovalPolicyViewSet,
                basename="change-approval-policy")
router.register("changes/cab-meetings", CabMeetingViewSet, basename="change-cab-meeting")
router.register("changes/windows", WindowViewSet, basename="change-window")
router.register("changes/schedule", ScheduleViewSet, basename="change-schedule")
router.register("changes/templates", ChangeTemplateViewSet, basename="change-template")
router.register("changes/template-versions", ChangeTemplateVersionViewSet,
                basename="change-template-version")
router.register("changes", ChangeViewSet, basename="change")
router.register("fleet/devices", DeviceViewSet, basename="fleet-device")
router.register("fleet/questions", LiveQueryViewSet, basename="fleet-question")
router.register("fleet/enrolment-groups", EnrolmentGroupViewSet,
                basename="fleet-enrolment-group")
router.register("fleet/enrolment-secrets", EnrolmentSecretViewSet,
                basename="fleet-enrolment-secret")
router.register("remediation/actions", ActionViewSet, basename="remediation-action")
router.register("remediation/versions", VersionViewSet, basename="remediation-version")
router.register("remediation/runs", RunViewSet, basename="remediation-run")
router.register("knowledge/articles", KnowledgeArticleViewSet, basename="knowledge-article")
router.register("knowledge/versions", KnowledgeVersionViewSet, basename="knowledge-version")
router.register("knowledge/categories", KnowledgeCategoryViewSet, basename="knowledge-category")
router.register("trends/proposals", ProposalViewSet, basename="trend-proposal")

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(),
         name="password_change"),
    path("accounts/profile/", account_views.ProfileView.as_view(), name="profile"),
    path("accounts/tokens/<int:pk>/revoke/", account_views.RevokeTokenView.as_view(),
         name="token_revoke"),
    path("attachments/<int:pk>/", ticket_views.attachment_download, name="attachment_download"),
    path("desk/cmdb/", include("cmdb.urls")),
    path("desk/incidents/", include("incidents.urls")),
    path("desk/changes/", include("changes.urls")),
    path("desk/problems/", include("problems.urls")),
    path("desk/sla/reports/", include("sla.report_urls")),
    path("desk/sla/", include("sla.urls")),
    path("desk/availability/", include("availability.urls")),
    path("desk/fleet/", include("fleet.urls")),
    path("desk/remediation/", include("remediation.urls")),
    path("desk/knowledge/", include("knowledge.urls")),
    path("desk/trends/", include("trends.urls")),
    path("desk/", include("desk.urls")),
    path("portal/knowledge/", include("knowledge.portal_urls")),
    path("portal/", include("portal.urls")),
    path("notifications/", include("notifications.urls")),
    path("api/v1/sla/reports/summary/", sla_report_api.SlaReportSummaryView.as_view(),
         name="sla-reports-summary"),
    path("api/v1/sla/reports/breaches/", sla_report_api.SlaReportBreachesView.as_view(),
         name="sla-reports-breaches"),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("cmdb.api.urls")),
    path("api/v1/", include("incidents.api.urls")),
    path("api/v1/", include("problems.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

handler400 = "itsm.views.bad_request"
handler403 = "itsm.views.permission_denied"
handler404 = "itsm.views.page_not_found"
handler500 = "itsm.views.server_error"
