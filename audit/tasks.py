"""The base class of every Celery task: it carries the audit actor across the queue.

When a task is queued while someone acts (a web request, an API call, another task), the
actor travels in a message header and the worker acts in their name, marked as a task.
A task queued by beat or with no actor acts as the system, named for the task.
"""

from typing import Any

from celery import Task

from .context import Actor, acting_as, current_actor

ACTOR_HEADER = "itsm_actor"


class AuditedTask(Task):
    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        actor = current_actor()
        headers = dict(options.pop("headers", None) or {})
        if actor.user_id is not None:
            headers.setdefault(ACTOR_HEADER, {"user_id": actor.user_id, "label": actor.label})
        return super().apply_async(args, kwargs, headers=headers, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        headers = self.request.headers or {}
        sent_by = headers.get(ACTOR_HEADER) or getattr(self.request, ACTOR_HEADER, None)
        short_name = self.name.rsplit(".", 1)[-1]
        if sent_by:
            actor = Actor(
                user_id=sent_by["user_id"],
                label=f"{sent_by['label']} (via {short_name})",
                source="task",
            )
        else:
            actor = Actor(user_id=None, label=f"system ({short_name})", source="task")
        with acting_as(actor):
            return super().__call__(*args, **kwargs)
