"""A faithful emulator of the Sage Intacct XML gateway, for tests, the demo and benchmarks.

The wire format follows the real gateway (request/response envelopes, error levels, numbers and
texts, paging limits, sessions).  Modules:

- :mod:`~intacct.sandbox.world`: :class:`Sandbox` (companies, sessions, cursors, knobs) and
  :class:`Company` (scenario, lazy records, mutation, snapshots).
- :mod:`~intacct.sandbox.scenarios`: the named scenarios, one company each.
- :mod:`~intacct.sandbox.schema`: objects, fields and how record values are generated.
- :mod:`~intacct.sandbox.query`: the readByQuery language and the query filter.
- :mod:`~intacct.sandbox.gateway`: request in, response out; :mod:`~intacct.sandbox.errors`:
  every error it answers with.
- :mod:`~intacct.sandbox.app`: the WSGI app (``make_app(sandbox)``) with JSON control endpoints.
- :mod:`~intacct.sandbox.server`: a threaded HTTP/1.1 server, ``serve_in_thread(sandbox)``.

In-process use::

    sandbox = Sandbox(records=50)
    client = httpx.Client(transport=httpx.WSGITransport(app=make_app(sandbox)))

Well-known values (every company in a sandbox shares them):

- Sender ID ``BeanworksMPP`` with sender password ``SANDBOX_SENDER_PASSWORD``.
- Web services user ``Beanworks`` with password ``SANDBOX_USER_PASSWORD``.
- One company per scenario; its company ID is the scenario name with ``-`` for ``_``
  (``healthy-top``, ``missing-permissions`` …), plus ``sandbox`` (the server's ``--scenario``).
"""

from typing import TYPE_CHECKING, Any

SANDBOX_SENDER_ID = "BeanworksMPP"
SANDBOX_SENDER_PASSWORD = "sandbox-sender-secret"  # noqa: S105 - well-known test credential
SANDBOX_USER_ID = "Beanworks"
SANDBOX_USER_PASSWORD = "Sandbox-Pa55word"  # noqa: S105 - well-known test credential
GATEWAY_PATH = "/ia/xml/xmlgw.phtml"

if TYPE_CHECKING:
    from .app import make_app
    from .scenarios import SCENARIOS, Scenario, get_scenario
    from .server import serve_in_thread
    from .world import Company, Sandbox

__all__ = [
    "GATEWAY_PATH",
    "SANDBOX_SENDER_ID",
    "SANDBOX_SENDER_PASSWORD",
    "SANDBOX_USER_ID",
    "SANDBOX_USER_PASSWORD",
    "SCENARIOS",
    "Company",
    "Sandbox",
    "Scenario",
    "get_scenario",
    "make_app",
    "serve_in_thread",
]

# Lazy exports: importing the credentials (e.g. from settings) must stay cheap.
_EXPORTS = {
    "Company": "world",
    "Sandbox": "world",
    "SCENARIOS": "scenarios",
    "Scenario": "scenarios",
    "get_scenario": "scenarios",
    "make_app": "app",
    "serve_in_thread": "server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
