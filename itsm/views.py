"""Error pages: HTML for people, the API's JSON error shape under /api/."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

from itsm.api.errors import json_error_response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return json_error_response(400, "bad_request", _("The request could not be understood."))
    return render(request, "errors/400.html", status=400)


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return json_error_response(403, "permission_denied", _("You may not do this."))
    return render(request, "errors/403.html", status=403)


def page_not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return json_error_response(404, "not_found", _("Not found."))
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error_response(500, "server_error",
                                   _("Something went wrong on our side. It has been logged."))
    # Rendered without the request: no context processor may touch a failing database.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return json_error_response(
            403, "csrf_failed",
            _("CSRF check failed. API clients should authenticate with a token."))
    return render(request, "errors/csrf.html", status=403)
