from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import Actor, acting_as, user_actor


class AuditActorMiddleware:
    """Makes the requesting user the audit actor for everything the request does.

    Resolved lazily: API token authentication happens inside the DRF view, after this
    middleware, and DRF writes the user it authenticated back onto the HttpRequest.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        source = "api" if request.path.startswith("/api/") else "web"

        def resolve() -> Actor:
            return user_actor(getattr(request, "user", None), source)

        with acting_as(resolve):
            return self.get_response(request)
