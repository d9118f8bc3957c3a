"""The customer-success console at scale: N legal entities with their history, timed page by page.

    python bench/dashboard.py --entities 10000 [--json]

Builds, in a throwaway database (created and dropped; PostgreSQL at ``$BENCH_DATABASE_URL``'s
server, default the local one, or SQLite with ``--sqlite``), N legal entities across N/20
organizations, each with a current attempt and its ten step states, a superseded attempt for one
in five, two or three verification runs with check results, up to four sync runs with three
objects each, five audit events, step visits and its health row. Then it times, through Django's
test client logged in as customer success: the overview (first page, a flag filter, a search),
the API Sync Profile queue, the funnel and one entity's page; each page is requested
``--repeat`` times after a warm-up, and the queries of one request are counted.

Target: overview p95 <= 150 ms at 10,000 entities on PostgreSQL (2 cores).

With ``--json`` the last line is one JSON object:
``{"entities": N, "pages": {"overview": {"median_ms": …, "p95_ms": …, "queries": …}, …}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


def _psql(server: str, sql: str) -> None:
    subprocess.run(["psql", f"{server}/postgres", "-qtAc", sql], check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    ap.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.entities < 1:
        raise SystemExit("--entities must be at least 1")

    # The server of $BENCH_DATABASE_URL (its database name is replaced by a throwaway one).
    given = os.environ.get("BENCH_DATABASE_URL")
    server = given.rsplit("/", 1)[0] if given else DEFAULT_SERVER
    name = f"intacct_dashboard_bench_{os.getpid()}"
    tmp = tempfile.TemporaryDirectory()
    if args.sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp.name}/bench.sqlite3"
    else:
        os.environ["DATABASE_URL"] = f"{server}/{name}"
        _psql(server, f'CREATE DATABASE "{name}"')
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        figures = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.sqlite:
            _psql(server, f'DROP DATABASE IF EXISTS "{name}"')
        tmp.cleanup()
    if args.json:
        print(json.dumps(figures))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # As in production: no query log kept, no debug pages.
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    started = time.perf_counter()
    entity_id = build(args.entities, random.Random(args.seed))
    built = time.perf_counter() - started
    mismatches = check_health_sample(min(50, args.entities))
    engine = connection.vendor
    print(
        f"Built {args.entities:,} legal entities in {built:.1f} s on {engine}; "
        f"health rows checked against refresh_health on a sample: {mismatches} mismatch(es)."
    )
    pages = time_pages(entity_id, repeat=args.repeat)
    print(f"\n{'page':<22}{'median ms':>11}{'p95 ms':>9}{'queries':>9}")
    for page, row in pages.items():
        print(f"{page:<22}{row['median_ms']:>11.1f}{row['p95_ms']:>9.1f}{row['queries']:>9}")
    target = pages["overview"]["p95_ms"]
    print(f"\nTarget: overview p95 <= 150 ms at 10,000 entities on PostgreSQL: {target:.1f} ms.")
    return {"entities": args.entities, "database": engine, "pages": pages}


def build(count: int, rnd: random.Random) -> str:
    """Everything the console reads, in bulk; returns one entity's public id (for its page)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from connections.models import (
        CUSTOMER_SUCCESS_GROUP,
        AuditEvent,
        CheckResult,
        ConnectionAttempt,
        LegalEntity,
        Organization,
        Step,
        StepState,
        StepVisit,
        SyncRun,
        SyncRunObject,
        VerificationRun,
    )

    now = timezone.now()
    user = get_user_model().objects.create_user("bench-cs", "cs@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    steps = list(Step)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Organization {i:04}", slug=f"org-{i:04}")
        for i in range(max(1, count // 20))
    )
    entities = LegalEntity.objects.bulk_create(
        LegalEntity(organization=orgs[i % len(orgs)], name=f"Entity {i:05}") for i in range(count)
    )
    attempts, steps_rows, runs = [], [], []
    for i, entity in enumerate(entities):
        if i % 5 == 0:
            attempts.append(
                ConnectionAttempt(
                    legal_entity=entity,
                    company_id=f"CO-{i:05}-OLD",
                    state=ConnectionAttempt.State.SUPERSEDED,
                    is_current=False,
                )
            )
        at = rnd.randrange(len(steps) + 1)  # how many steps are done
        state = ConnectionAttempt.State.VERIFIED if at >= 8 else rnd.choice(["draft", "failed"])
        attempts.append(
            ConnectionAttempt(legal_entity=entity, company_id=f"CO-{i:05}", state=state)
        )
    ConnectionAttempt.objects.bulk_create(attempts, batch_size=2000)
    current = {a.legal_entity_id: a for a in ConnectionAttempt.objects.filter(is_current=True)}
    for i, entity in enumerate(entities):
        attempt = current[entity.pk]
        done = 10 if attempt.state == "verified" and i % 3 == 0 else rnd.randrange(10)
        for index, step in enumerate(steps):
            steps_rows.append(
                StepState(
                    attempt=attempt,
                    step=step,
                    status="verified" if index < done else "pending",
                )
            )
        for _ in range(rnd.randrange(2, 4)):
            runs.append(
                VerificationRun(
                    attempt=attempt,
                    state=rnd.choice(["passed", "passed", "failed", "error"]),
                    trigger="schedule",
                    finished_at=now - timedelta(hours=rnd.randrange(1, 500)),
                    round_trips=3,
                )
            )
    StepState.objects.bulk_create(steps_rows, batch_size=5000)
    VerificationRun.objects.bulk_create(runs, batch_size=5000)
    results = [
        CheckResult(
            run=run,
            position=p,
            kind="step",
            key=key,
            outcome="failed" if run.state == "failed" and p == 2 else "passed",
            errorno="BL01001973" if run.state == "failed" and p == 2 else "",
        )
        for run in runs
        for p, key in enumerate(("ws_subscription", "ws_user", "role_permissions", "credentials"))
    ]
    CheckResult.objects.bulk_create(results, batch_size=5000)

    syncs = []
    for entity in entities:
        for _ in range(rnd.randrange(0, 5)):
            started = now - timedelta(hours=rnd.randrange(1, 24 * 30))
            syncs.append(
                SyncRun(
                    legal_entity=entity,
                    kind=rnd.choice(["full", "partial", "partial"]),
                    trigger=rnd.choice(["schedule", "manual"]),
                    state=rnd.choice(["succeeded"] * 6 + ["partial", "failed"]),
                    started_at=started,
                    finished_at=started + timedelta(seconds=rnd.randrange(2, 600)),
                    requests=rnd.randrange(3, 60),
                    transactions=rnd.randrange(3, 60),
                )
            )
    SyncRun.objects.bulk_create(syncs, batch_size=5000)
    SyncRunObject.objects.bulk_create(
        (
            SyncRunObject(
                run=run,
                object_name=name,
                state="succeeded",
                fetched=rnd.randrange(0, 5000),
                requests=rnd.randrange(1, 5),
            )
            for run in syncs
            for name in ("VENDOR", "GLACCOUNT", "DEPARTMENT")
        ),
        batch_size=5000,
    )
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                organization_id=entity.organization_id,
                legal_entity=entity,
                action=rnd.choice(["step.acknowledged", "verification.passed", "sync.finished"]),
                at=now - timedelta(hours=rnd.randrange(1, 900)),
            )
            for entity in entities
            for _ in range(5)
        ),
        batch_size=5000,
    )
    # Step visits and health rows, as refresh_health would write them (checked on a sample).
    visits = []
    for entity in entities:
        since = now - timedelta(hours=rnd.randrange(1, 24 * 20))
        visits.append(
            StepVisit(legal_entity=entity, step="pre_connection", entered_at=since - timedelta(
                hours=rnd.randrange(1, 48)), left_at=since)
        )  # fmt: skip
    StepVisit.objects.bulk_create(visits, batch_size=5000)
    _bulk_health(entities, now)
    return str(entities[len(entities) // 2].public_id)


def _bulk_health(entities: list[Any], now: Any) -> None:
    """Health rows from the facts selector, without the per-entity writes of refresh_health
    (which would take minutes at 10,000): one read of the facts and one bulk insert."""
    from connections.models import ConnectionHealth, StepVisit
    from connections.selectors.health import health_facts

    since = dict(StepVisit.objects.values_list("legal_entity_id", "left_at"))
    rows = []
    for entity in entities:
        facts = health_facts(entity, now=now)
        rows.append(
            ConnectionHealth(
                legal_entity=entity,
                connection_state=facts.connection_state,
                company_id=facts.company_id,
                current_step=facts.current_step,
                step_since=since.get(entity.pk) or now,
                steps_done=facts.steps_done,
                last_verification=facts.last_verification,
                failing_step=facts.failing_step,
                failing_errorno=facts.failing_errorno,
                verification_failing=facts.verification_failing,
                permission_drift=facts.permission_drift,
                last_sync=facts.last_sync,
                last_sync_records=facts.last_sync_records,
                last_sync_transactions=facts.last_sync_transactions,
                sync_failing=facts.sync_failing,
                scheduled_failures=facts.scheduled_failures,
                waiting_for_profile=facts.waiting_for_profile,
                waiting_since=facts.verified_at if facts.waiting_for_profile else None,
                next_sync_at=facts.next_sync_at,
            )
        )
    ConnectionHealth.objects.bulk_create(rows, batch_size=5000)


def check_health_sample(size: int) -> int:
    """Recompute ``size`` health rows with refresh_health; how many flags or steps differ."""
    from connections.models import ConnectionHealth
    from connections.services.health import refresh_health

    fields = (
        "connection_state", "current_step", "steps_done", "last_verification_id",
        "verification_failing", "permission_drift", "last_sync_id", "sync_failing",
        "waiting_for_profile",
    )  # fmt: skip
    mismatches = 0
    for before in ConnectionHealth.objects.order_by("?")[:size]:
        after = refresh_health(before.legal_entity_id)
        assert after is not None
        mismatches += any(getattr(before, f) != getattr(after, f) for f in fields)
    return mismatches


def time_pages(entity_id: str, *, repeat: int) -> dict[str, dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-cs"))
    pages = {
        "overview": (reverse("console:overview"), {}),
        "overview_flag": (reverse("console:overview"), {"flag": "sync_failing"}),
        "overview_search": (reverse("console:overview"), {"q": "Entity 0042"}),
        "overview_sorted": (reverse("console:overview"), {"sort": "-sync", "page": "3"}),
        "queue": (reverse("console:queue"), {}),
        "funnel": (reverse("console:funnel"), {}),
        "sync_health": (reverse("console:sync_health"), {}),
        "entity": (reverse("console:entity", args=[entity_id]), {}),
    }
    figures: dict[str, dict[str, Any]] = {}
    for page, (url, params) in pages.items():
        for _ in range(3):
            client.get(url, params)
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        queries = len(captured)  # now: the capture reads the connection's log when asked
        if response.status_code != 200:
            raise SystemExit(f"{page}: HTTP {response.status_code}")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url, params)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        figures[page] = {
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
            "queries": queries,
        }
    return figures


if __name__ == "__main__":
    main()
