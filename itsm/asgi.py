import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
# Read by the settings: the web process pools its PostgreSQL connections.
os.environ.setdefault("ITSM_WEB_PROCESS", "1")

application = get_asgi_application()
