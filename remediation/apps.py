from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemediationConfig(AppConfig):
    name = "remediation"
    verbose_name = _("Remediation")

    def ready(self) -> None:
        from fleet.signals import jobs_changed

        from .runs import jobs_changed as follow_jobs

        # Executions move with their fleet jobs, in the same transaction.
        jobs_changed.connect(follow_jobs, dispatch_uid="remediation.follow_jobs")
