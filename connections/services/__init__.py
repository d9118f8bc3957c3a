"""Writes: the business logic, callable alike from views, tasks and management commands.

Reads live in :mod:`connections.selectors`; services may use them, never the other way round.

How services and tasks depend on each other: :mod:`connections.tasks` imports the services (each
task is a thin wrapper taking an id); a service never imports the tasks. A service that needs a
worker writes its row, then names the task to :func:`connections.services.queue.enqueue_on_commit`,
which sends it once the transaction commits and settles the row if the broker is down.

- ``accounts``: organizations, org units, members, legal entities.
- ``attempts``: connection attempts, acknowledged steps, saved credentials.
- ``signin``: how we sign in to Intacct (our sender, the attempt's user, the guide's names).
- ``verification``: proving an attempt live; ``alerts``: when our own sender is refused.
- ``intacct_entities``: the Intacct entities of a company, for the entity picker.
- ``api_sync``: the API Sync Profile; ``handoff``: hand-off links.
- ``smartsync`` with ``listitem_store``: syncing list records; ``schedules``: the Sync Schedule.
- ``sandbox_status``: which demo companies the local sandbox serves (the home page).
- ``queue``: queueing work for the workers.
"""
