"""WSGI entry point, for management tools only: serve the site with uvicorn (ASGI), since a
WSGI server buffers streamed replies."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
application = get_wsgi_application()
