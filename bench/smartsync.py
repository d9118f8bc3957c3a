"""SmartSync from the sandbox gateway into PostgreSQL, measured: requests, API transactions and
wall time per phase.

    python bench/smartsync.py --records 100000 --latency-ms 300

Phases:

- VENDOR at ``--records``: full-sync records/s; a partial sync after 100 changes and 10
  deletions, with the audit trail and without it; a baseline that pulls with ``sageintacctsdk``
  and saves record by record with ``update_or_create`` (on a sample, as records/s);
- every profile object at ``--profile-records`` each: a partial sync with no changes, with and
  without the audit trail;
- ``--latency-ms`` per request, a company that takes 2 at a time: a full sync's wall time against
  requests x latency; three legal entities of that company syncing at once in two Celery worker
  processes (needs ``REDIS_URL``), with the company's peak requests in flight.

Targets (2 cores): full >= 15,000 records/s and >= 10 x the baseline; partial <= 1 s; no-change
partial of every object <= 3 requests with the audit trail, <= 8 without; latency-bound full
<= 0.55 x (requests x latency); three entities never above 2 in flight, no 429 in a run's error.

The database is ``$BENCH_DATABASE_URL`` (default: a ``intacct_bench`` database on the local
PostgreSQL, made anew and migrated at each run, so that rows of earlier runs do not slow this
one).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/intacct_bench"
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    name = url.rsplit("/", 1)[1]
    if url == DEFAULT_DB:  # our own throwaway database: start empty
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name],
                       check=True)  # fmt: skip
    exists = subprocess.run(
        ["psql", url.rsplit("/", 1)[0] + "/postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 - our own name
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if exists != "1":
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument(
        "--baseline-sample",
        type=int,
        default=5_000,
        help="records the update_or_create baseline saves (its rate is reported)",
    )
    ap.add_argument(
        "--profile-records",
        type=int,
        default=5_000,
        help="records per object for the every-object and latency phases",
    )
    ap.add_argument(
        "--latency-ms",
        type=float,
        default=300.0,
        help="the sandbox sleeps this long per request, inside the company's slot, in the "
        "latency-bound phases (0 skips them)",
    )
    ap.add_argument(
        "--phases",
        default="vendor,objects,latency",
        help="comma-separated phases to run: vendor, objects, latency",
    )
    args = ap.parse_args()
    phases = set(args.phases.split(","))

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.INTACCT_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1"]

    from bench.pull import start_sandbox

    if "vendor" in phases:
        proc, endpoint = start_sandbox(args.records)
        base = endpoint.split("/ia/", 1)[0]
        try:
            vendor_phases(endpoint, base, args.records)
            base_n, base_s = baseline(endpoint, args.baseline_sample, _organization("baseline"))
        finally:
            proc.terminate()
            proc.wait(10)
        print(f"baseline:     sageintacctsdk + update_or_create, {base_n:,} records in "
              f"{base_s:.2f} s = {base_n / base_s:,.0f} records/s")  # fmt: skip
        FIGURES["baseline_rate"] = base_n / base_s

    if "objects" in phases:
        proc, endpoint = start_sandbox(args.profile_records)
        try:
            every_object_phase(endpoint, args.profile_records)
        finally:
            proc.terminate()
            proc.wait(10)

    if args.latency_ms > 0 and "latency" in phases:
        proc, endpoint = start_sandbox(args.profile_records, latency_ms=args.latency_ms)
        try:
            latency_phases(endpoint, args.profile_records, args.latency_ms)
        finally:
            proc.terminate()
            proc.wait(10)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {rss_mb:.0f} MB")
    if "vendor" not in phases:
        return
    full_rate = FIGURES["full_rate"]
    print(f"full / baseline: {full_rate / FIGURES['baseline_rate']:.1f} (target >= 10); "
          f"full >= 15,000/s: {'yes' if full_rate >= 15_000 else 'no'}; "
          f"partial <= 1 s: {'yes' if FIGURES['partial_s'] <= 1 else 'no'}")  # fmt: skip


FIGURES: dict[str, float] = {}
#: Six list objects for the latency-bound phases.
LATENCY_OBJECTS = ["VENDOR", "CUSTOMER", "DEPARTMENT", "LOCATION", "CLASS", "EMPLOYEE"]


def _organization(label: str):  # type: ignore[no-untyped-def]
    from connections.services.accounts import create_organization

    stamp = f"{time.time_ns()}"
    return create_organization(f"Bench {label} {stamp}", slug=f"bench-{label}-{stamp}")


def _entity(org, name: str, company: str, endpoint: str, objects: list[str]):  # type: ignore[no-untyped-def]
    from connections.models import ApiSyncProfile
    from connections.services.accounts import create_legal_entity
    from connections.services.attempts import start_attempt
    from intacct.sandbox import SANDBOX_USER_ID, SANDBOX_USER_PASSWORD

    entity = create_legal_entity(org, name)
    start_attempt(entity, company_id=company, user_id=SANDBOX_USER_ID,
                  password=SANDBOX_USER_PASSWORD, endpoint=endpoint)  # fmt: skip
    ApiSyncProfile.objects.create(legal_entity=entity, object_names=objects, enabled=True)
    return entity


def _as_verified(entity, company: str) -> None:  # type: ignore[no-untyped-def]
    """What the verification learns of the audit-trail permission, kept with the profile."""
    from connections.models import ApiSyncProfile

    readable = company != "no-audit-trail"
    ApiSyncProfile.objects.filter(legal_entity=entity).update(audit_trail=readable)


def _sync(entity, kind: str):  # type: ignore[no-untyped-def]
    from connections.models import SyncRun
    from connections.services.smartsync import perform_sync, start_sync

    run, _ = start_sync(entity, kind=kind, trigger=SyncRun.Trigger.COMMAND)
    started = time.perf_counter()
    perform_sync(run.pk)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    return elapsed, run


def _line(label: str, seconds: float, run) -> str:  # type: ignore[no-untyped-def]
    return (f"{label:<44} {seconds:7.3f} s  {run.requests:4d} requests  "
            f"{run.transactions:5d} transactions  ({run.state})")  # fmt: skip


def _exact(base: str, company: str, entity, name: str) -> str:  # type: ignore[no-untyped-def]
    """Whether what the entity holds live of ``name`` is the sandbox's: the same keys, each with
    the same WHENMODIFIED."""
    import httpx

    from connections.models import ListItem
    from intacct.timestamps import parse_datetime

    answer = httpx.get(f"{base}/sandbox/companies/{company}/snapshot", params={"object": name},
                       timeout=120)  # fmt: skip
    answer.raise_for_status()
    theirs = {str(k): parse_datetime(v) if v else None for k, v in answer.json().items()}
    ours = dict(ListItem.objects.filter(legal_entity=entity, object_name=name,
                                        deleted_at__isnull=True)
                .values_list("record_no", "when_modified"))  # fmt: skip
    if ours == theirs:
        return "exact"
    missing, extra = len(theirs.keys() - ours.keys()), len(ours.keys() - theirs.keys())
    stale = sum(1 for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    return f"NOT EXACT: {missing} missing, {extra} extra, {stale} stale"


def vendor_phases(endpoint: str, base: str, records: int) -> None:
    """VENDOR at ``records``: full sync; a partial after 100 changes and 10 deletions, with the
    audit trail (healthy-top) and without it (no-audit-trail)."""
    import httpx

    from connections.models import ListItem, SyncRun

    print(f"\nSmartSync of VENDOR, {records:,} records, 0 ms latency")
    org = _organization("vendor")
    for company, label in (("healthy-top", "with audit trail"),
                           ("no-audit-trail", "without audit trail")):  # fmt: skip
        entity = _entity(org, f"Bench {company}", company, endpoint, ["VENDOR"])
        _as_verified(entity, company)
        full_s, full_run = _sync(entity, SyncRun.Kind.FULL)
        full = full_run.object_results.get(object_name="VENDOR")
        live = ListItem.objects.filter(legal_entity=entity, deleted_at__isnull=True).count()
        if company == "healthy-top":
            FIGURES["full_rate"] = full.fetched / full_s
            print(_line("full sync", full_s, full_run)
                  + f"  {full.fetched / full_s:,.0f} records/s, {live:,} live rows")  # fmt: skip
        mutation = httpx.post(f"{base}/sandbox/companies/{company}/mutate",
                              json={"changes": 100, "deletes": 10, "objects": ["VENDOR"]})  # fmt: skip
        mutation.raise_for_status()
        done = mutation.json()["VENDOR"]
        part_s, part_run = _sync(entity, SyncRun.Kind.PARTIAL)
        part = part_run.object_results.get(object_name="VENDOR")
        if company == "healthy-top":
            FIGURES["partial_s"] = part_s
        print(_line(f"partial, 100 changes + 10 deletions, {label}", part_s, part_run)
              + f"  {part.updated} updated, {part.deleted} deleted "
              f"(the sandbox deleted {len(done['deleted'])}); "
              f"{_exact(base, company, entity, 'VENDOR')}")  # fmt: skip


def every_object_phase(endpoint: str, records: int) -> None:
    """Every profile object at ``records`` each: a partial sync with no changes, with and
    without the audit trail."""
    from connections.models import SyncRun
    from intacct import list_object_names

    names = list_object_names()
    print(
        f"\nEvery profile object ({len(names)}), {records:,} records each, no changes, 0 ms latency"
    )
    org = _organization("objects")
    for company, label in (("healthy-top", "with audit trail (target <= 3 requests)"),
                           ("no-audit-trail", "without audit trail (target <= 8)")):  # fmt: skip
        entity = _entity(org, f"Bench all {company}", company, endpoint, names)
        _as_verified(entity, company)
        full_s, full_run = _sync(entity, SyncRun.Kind.FULL)
        if company == "healthy-top":
            print(_line("full sync", full_s, full_run))
        part_s, part_run = _sync(entity, SyncRun.Kind.PARTIAL)
        print(_line(f"partial, {label}", part_s, part_run))


def latency_phases(endpoint: str, records: int, latency_ms: float) -> None:
    """A company that takes 2 requests at a time, each answered after ``latency_ms``: a full
    sync's wall time against its requests; then three legal entities of that company syncing
    at once in two Celery worker processes."""
    import httpx

    from connections.models import SyncRun

    company = "two-requests-at-a-time"
    base = endpoint.split("/ia/", 1)[0]
    print(f"\nLatency {latency_ms:.0f} ms per request, limit 2, {len(LATENCY_OBJECTS)} objects "
          f"x {records:,} records")  # fmt: skip
    org = _organization("latency")
    entity = _entity(org, "Bench latency", company, endpoint, LATENCY_OBJECTS)
    full_s, run = _sync(entity, SyncRun.Kind.FULL)
    serial = run.requests * latency_ms / 1000
    print(_line("full sync", full_s, run)
          + f"  = {full_s / serial:.3f} x (requests x latency) (target <= 0.55)")  # fmt: skip

    if not os.environ.get("REDIS_URL"):
        print("three entities in two worker processes: skipped (set REDIS_URL)")
        return
    httpx.post(f"{base}/sandbox/reset").raise_for_status()
    entities = [_entity(org, f"Bench group {i}", company, endpoint, LATENCY_OBJECTS)
                for i in range(3)]  # fmt: skip
    workers = [_worker(f"bench{i}", endpoint) for i in range(2)]
    try:
        from connections.services.smartsync import start_sync

        started = time.perf_counter()
        runs = [start_sync(e, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.COMMAND)[0]
                for e in entities]  # fmt: skip
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            states = set(SyncRun.objects.filter(pk__in=[r.pk for r in runs])
                         .values_list("state", flat=True))  # fmt: skip
            if states <= set(SyncRun.FINISHED):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    stats = httpx.get(f"{base}/sandbox/companies/{company}/stats").json()
    finished = list(SyncRun.objects.filter(pk__in=[r.pk for r in runs]))
    errors = [r.error for r in finished if r.error]
    rate_limited = sum("429" in r.error or "RateLimit" in r.error for r in finished)
    print(f"three entities at once, 2 worker processes: {elapsed:.1f} s, states "
          f"{sorted(r.state for r in finished)}; the company's peak in flight "
          f"{stats['peak_in_flight']} (limit 2), refused as busy {stats['refused_busy']}, "
          f"429s in a run's error {rate_limited}; errors {errors or 'none'}")  # fmt: skip


def _worker(name: str, endpoint: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, INTACCT_ALLOWED_ENDPOINT_HOSTS="127.0.0.1",
               INTACCT_ENDPOINT=endpoint)  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1",
         "-n", f"{name}@%h", "-l", "warning", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def baseline(endpoint: str, sample: int, org: object) -> tuple[int, float]:
    """sageintacctsdk pages saved one record at a time with update_or_create."""
    import requests
    from sageintacctsdk import SageIntacctSDK

    from connections.models import ListItem
    from connections.services.accounts import create_legal_entity
    from intacct.catalog import get_object
    from intacct.sandbox import (
        SANDBOX_SENDER_ID,
        SANDBOX_SENDER_PASSWORD,
        SANDBOX_USER_ID,
        SANDBOX_USER_PASSWORD,
    )

    entity = create_legal_entity(org, "Bench baseline")  # type: ignore[arg-type]
    fields = list(get_object("VENDOR").fields)
    original = requests.post

    def post(url: str, *a: object, **kw: object) -> requests.Response:
        return original(endpoint, *a, **kw)  # type: ignore[arg-type]

    requests.post = post  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        sdk = SageIntacctSDK(sender_id=SANDBOX_SENDER_ID, sender_password=SANDBOX_SENDER_PASSWORD,
                             user_id=SANDBOX_USER_ID, company_id="healthy-top",
                             user_password=SANDBOX_USER_PASSWORD)  # fmt: skip
        saved = 0
        for page in sdk.vendors.get_all_generator(fields=fields):
            for rec in page:
                ListItem.objects.update_or_create(
                    legal_entity=entity, object_name="VENDOR", record_no=str(rec["RECORDNO"]),
                    defaults={"item_id": rec.get("VENDORID") or "", "name": rec.get("NAME") or "",
                              "status": rec.get("STATUS") or "", "fields": rec},
                )  # fmt: skip
                saved += 1
                if saved >= sample:
                    return saved, time.perf_counter() - started
        return saved, time.perf_counter() - started
    finally:
        requests.post = original  # type: ignore[assignment]


if __name__ == "__main__":
    main()
