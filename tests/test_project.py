"""The project as a whole: settings modes, the Celery broker, docker-compose, package boundaries."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_SECRETS = [
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "INTACCT_SENDER_ID",
    "INTACCT_SENDER_PASSWORD",
    "ALLOWED_HOSTS",
]


def clean_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """An environment with none of the project's variables but ``variables``."""
    env = {"PATH": os.environ["PATH"], "VAR_DIR": str(tmp_path / "var"), **variables}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


def load_settings(env: dict[str, str], expression: str = "''") -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh interpreter and print ``expression`` (evaluated with settings)."""
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path,
        APP_ENV="production",
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        INTACCT_SENDER_ID="BeanworksMPP",
        INTACCT_SENDER_PASSWORD="sender-password",
        ALLOWED_HOSTS="app.example.com",
    )


def test_intacct_imports_without_django():
    result = subprocess.run(
        [sys.executable, "-c", "import intacct, sys; assert 'django' not in sys.modules"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("mode", [{"APP_ENV": "production"}, {"DEBUG": "0"}])
def test_production_mode_names_every_missing_secret(tmp_path, mode):
    result = load_settings(clean_env(tmp_path, **mode))

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: Production mode")
    for name in PRODUCTION_SECRETS:
        assert name in last_line


def test_production_mode_names_only_what_is_missing(tmp_path):
    env = production_env(tmp_path)
    del env["INTACCT_SENDER_PASSWORD"]
    env["SECRET_KEY"] = "  "

    result = load_settings(env)

    last_line = result.stderr.strip().splitlines()[-1]
    assert "SECRET_KEY, INTACCT_SENDER_PASSWORD." in last_line
    assert "ALLOWED_HOSTS" not in last_line


def test_production_mode_starts_with_everything_set(tmp_path):
    result = load_settings(
        production_env(tmp_path),
        "settings.DEBUG, settings.INTACCT_ENDPOINT, settings.INTACCT_ALLOWED_ENDPOINT_HOSTS, "
        "settings.STORAGES['staticfiles']['BACKEND'], settings.SESSION_COOKIE_SECURE",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "False https://api.intacct.com/ia/xml/xmlgw.phtml [] "
        "whitenoise.storage.CompressedManifestStaticFilesStorage True"
    )


def test_production_mode_refuses_a_malformed_encryption_key(tmp_path):
    env = production_env(tmp_path)
    env["FIELD_ENCRYPTION_KEYS"] = f"{Fernet.generate_key().decode()},not-a-key"

    result = load_settings(env)

    last_line = result.stderr.strip().splitlines()[-1]
    assert "FIELD_ENCRYPTION_KEYS entry 2 is not a Fernet key" in last_line
    assert "not-a-key" not in result.stderr


def test_development_defaults_need_no_variable(tmp_path):
    result = load_settings(
        clean_env(tmp_path),
        "settings.DEBUG, settings.DATABASES['default']['NAME'], settings.CELERY_BROKER_URL, "
        "settings.INTACCT_ENDPOINT, settings.INTACCT_SENDER_ID, settings.SANDBOX_URL",
    )

    assert result.returncode == 0, result.stderr
    var = tmp_path / "var"
    assert result.stdout.split() == [
        "True",
        str(var / "db.sqlite3"),
        "filesystem://localhost/",
        "http://127.0.0.1:8765/ia/xml/xmlgw.phtml",
        "BeanworksMPP",
        "http://127.0.0.1:8765",
    ]
    assert (var / "celery" / "queue").is_dir()
    assert (var / "celery" / "processed").is_dir()


def test_redis_url_is_the_broker_unless_one_is_named(tmp_path):
    redis_only = load_settings(
        clean_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3"),
        "settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']"
        " > settings.CELERY_TASK_TIME_LIMIT",
    )
    both = load_settings(
        clean_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", CELERY_BROKER_URL="memory://"),
        "settings.CELERY_BROKER_URL",
    )

    assert redis_only.stdout.split() == ["redis://127.0.0.1:6379/3", "True"]
    assert both.stdout.strip() == "memory://"


def test_worker_runs_a_task_from_the_filesystem_broker(tmp_path):
    env = clean_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings")
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info"),
                *("--concurrency", "1", "--hostname", "filesystem-test@%h"),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        sent = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from connections.tasks import ping; ping.delay()",
            ],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 60
        while "connections.tasks.ping" not in _succeeded(log_path):
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _succeeded(log_path: Path) -> str:
    return "\n".join(line for line in log_path.read_text().splitlines() if "succeeded" in line)


def test_docker_compose_file_is_valid():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")

    result = subprocess.run(
        [binary, "-f", str(BASE_DIR / "docker-compose.yml"), "config", "-q"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr


# --- Who imports whom -------------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """The modules a Python file imports (absolute names, ``from x import y`` as ``x``)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((BASE_DIR / folder).rglob("*.py"))


def test_views_import_nothing_from_intacct():
    for path in _files("connections/views"):
        assert not any(n == "intacct" or n.startswith("intacct.") for n in _imports(path)), path


def test_services_and_selectors_never_import_the_tasks():
    for folder in ("connections/services", "connections/selectors"):
        for path in _files(folder):
            assert "connections.tasks" not in _imports(path), path


def test_selectors_never_import_the_services_that_write():
    # The one exception is how we sign in, whose guide names the report's remedies quote.
    for path in _files("connections/selectors"):
        writers = {n for n in _imports(path) if n.startswith("connections.services")} - {
            "connections.services.signin"
        }
        assert not writers, path


def test_no_module_imports_a_private_name_of_another():
    for folder in ("connections", "intacct", "config", "bench"):
        for path in _files(folder):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    assert not private, f"{path} imports {private} from {node.module}"
