"""SmartSync of VENDOR from the sandbox gateway into PostgreSQL, measured.

    python bench/smartsync.py --records 100000

Prints: full-sync records/s; a partial sync after 100 changes and 10 deletions (seconds,
requests, records transferred); peak RSS of this process after the syncs; and, in the same run,
a baseline that pulls with ``sageintacctsdk`` and saves record by record with
``update_or_create`` (on a sample, reported as records/s).

Targets (2 cores): full >= 15,000 records/s and >= 10 x the baseline; partial <= 1 s with only
the changed pages plus key-only pages; peak RSS <= 250 MB at 1,000,000 records.

The database is ``$BENCH_DATABASE_URL`` (default: a ``intacct_bench`` database on the local
PostgreSQL, created and migrated when missing).
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
    args = ap.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    import httpx

    from bench.pull import start_sandbox
    from connections.models import ApiSyncProfile, ListItem, SyncRun
    from connections.services.accounts import create_legal_entity, create_organization
    from connections.services.attempts import start_attempt
    from connections.services.smartsync import perform_sync, start_sync
    from intacct.sandbox import SANDBOX_USER_ID, SANDBOX_USER_PASSWORD

    proc, endpoint = start_sandbox(args.records)
    base = endpoint.split("/ia/", 1)[0]
    try:
        settings.INTACCT_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1"]
        stamp = str(int(time.time()))
        org = create_organization(f"Bench {stamp}", slug=f"bench-{stamp}")
        entity = create_legal_entity(org, "Bench US")
        start_attempt(entity, company_id="healthy-top", user_id=SANDBOX_USER_ID,
                      password=SANDBOX_USER_PASSWORD, endpoint=endpoint)  # fmt: skip
        ApiSyncProfile.objects.create(legal_entity=entity, object_names=["VENDOR"], enabled=True)

        def sync(kind: str) -> tuple[float, SyncRun]:
            run, _ = start_sync(entity, kind=kind, trigger=SyncRun.Trigger.COMMAND)
            started = time.perf_counter()
            perform_sync(run.pk)
            elapsed = time.perf_counter() - started
            run.refresh_from_db()
            return elapsed, run

        full_s, full_run = sync(SyncRun.Kind.FULL)
        full = full_run.object_results.get(object_name="VENDOR")
        live = ListItem.objects.filter(legal_entity=entity, deleted_at__isnull=True).count()

        mutation = httpx.post(f"{base}/sandbox/companies/healthy-top/mutate",
                              json={"changes": 100, "deletes": 10, "objects": ["VENDOR"]})  # fmt: skip
        mutation.raise_for_status()
        done = mutation.json()["VENDOR"]
        # A change may hit a record that is then deleted, or one record twice.
        expect_updated = len(set(done["changed"]) - set(done["deleted"]))
        part_s, part_run = sync(SyncRun.Kind.PARTIAL)
        part = part_run.object_results.get(object_name="VENDOR")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        base_n, base_s = baseline(endpoint, args.baseline_sample, org)
    finally:
        proc.terminate()
        proc.wait(10)

    full_rate = full.fetched / full_s
    base_rate = base_n / base_s
    print(
        f"\nSmartSync of VENDOR, {args.records:,} records, into {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
    )
    print(f"full sync:    {full.fetched:,} records in {full_s:.2f} s = {full_rate:,.0f} records/s, "
          f"{full.requests} requests, {full.created:,} created ({full_run.state}); "
          f"{live:,} live rows")  # fmt: skip
    print(f"partial sync: {part_s:.3f} s, {part.requests} requests, {part.fetched} records "
          f"transferred, {part.updated} updated, {part.created} created, {part.deleted} deleted "
          f"({part_run.state}); the sandbox changed {expect_updated} surviving records and "
          f"deleted {len(done['deleted'])}")  # fmt: skip
    print(f"baseline:     sageintacctsdk + update_or_create, {base_n:,} records in {base_s:.2f} s "
          f"= {base_rate:,.0f} records/s")  # fmt: skip
    print(f"peak RSS of this process: {rss_mb:.0f} MB")
    print(f"\nfull / baseline: {full_rate / base_rate:.1f} (target >= 10); "
          f"full >= 15,000/s: {'yes' if full_rate >= 15_000 else 'no'}; "
          f"partial <= 1 s: {'yes' if part_s <= 1 else 'no'}")  # fmt: skip


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
