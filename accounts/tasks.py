from celery import shared_task

from . import services


@shared_task(name="accounts.tasks.purge_expired_credentials")
def purge_expired_credentials() -> dict[str, int]:
    return services.credentials_purge_expired()
