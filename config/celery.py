"""The Celery app: ``celery -A config worker`` and ``celery -A config beat``.

Every setting is a ``CELERY_*`` name in ``config/settings.py``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
