"""A check started while the task queue is down ends with a retry message, not a server error.

Runs in a fresh interpreter whose broker is a closed port: the real publish fails the way it does
in production, with nothing patched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from django.db import transaction
call_command("migrate", verbosity=0)
from connections.services.accounts import create_legal_entity, create_organization
from connections.services.attempts import start_attempt
from connections.services.verification import QUEUE_MESSAGE, start_verification
org = create_organization("Queue Co", slug="queue-co")
entity = create_legal_entity(org, "Queue US")
attempt = start_attempt(entity, company_id="healthy-top", user_id="Beanworks", password="x")
with transaction.atomic():
    run = start_verification(attempt)
run.refresh_from_db()
attempt.refresh_from_db()
print(run.state, run.error == QUEUE_MESSAGE, attempt.state)
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_with_broker_down(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter on its own SQLite database whose Celery broker is a
    closed port, so a real publish fails the way it does in production."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0",
        VAR_DIR=str(tmp_path),
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_check_started_while_the_broker_is_down_ends_with_a_retry_message(
    tmp_path: Path,
) -> None:
    proc = run_with_broker_down(SCRIPT, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["error", "True", "draft"]
    assert "could not queue verification run" in proc.stderr
