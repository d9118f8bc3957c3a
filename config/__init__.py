"""Project configuration: settings, URLs, the WSGI/ASGI entry points and the Celery app."""

# Loaded with Django so that @shared_task binds to this app.
from .celery import app as celery_app

__all__ = ("celery_app",)
