"""Test-only URLs: the project's, plus what the lead wires in when merging: the approval
pages under /desk/changes/ (namespace "changes", with a stand-in for the change page
``changes:detail``), the portal's approval pages, and the approval API routes."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.routers import DefaultRouter

import portal.urls
from changes import approval_urls
from changes.api.approvals import (
    ApprovalPolicyViewSet,
    ApprovalTaskViewSet,
    CabMeetingViewSet,
)
from itsm import urls as project
from portal import approvals as portal_approvals


def change_detail_stand_in(request, pk):
    from django.template import engines

    from changes.models import Change

    change = Change.objects.get(pk=pk)
    page = engines["django"].from_string(
        "{% load change_approvals %}{% approvals_panel change request.user %}")
    return HttpResponse(page.render({"change": change}, request))


router = DefaultRouter()
router.register("changes/approvals", ApprovalTaskViewSet, basename="change-approval")
router.register("changes/approval-policies", ApprovalPolicyViewSet,
                basename="change-approval-policy")
router.register("changes/cab-meetings", CabMeetingViewSet, basename="change-cab-meeting")

changes_patterns = ([
    path("<int:pk>/", change_detail_stand_in, name="detail"),
    *approval_urls.urlpatterns,
], "changes")
portal_patterns = ([
    *portal.urls.urlpatterns,
    path("approvals/", include(portal_approvals.urlpatterns)),
], "portal")

urlpatterns = [
    path("desk/changes/", include(changes_patterns)),
    path("portal/", include(portal_patterns)),
    path("api/v1/", include(router.urls)),
    *[p for p in project.urlpatterns if str(p.pattern) != "portal/"],
]

handler400 = project.handler400
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500
