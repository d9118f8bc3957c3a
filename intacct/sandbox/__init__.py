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
- The connection guide's other names as a healthy company was set up with them (the product
  ``Beanworks``, its role, its AP Bill custom field): :func:`guide_names` gathers them all.
- One company per scenario; its company ID is the scenario name with ``-`` for ``_``
  (``healthy-top``, ``missing-permissions`` …), plus ``sandbox`` (the server's ``--scenario``).
"""

from typing import TYPE_CHECKING, Any

SANDBOX_SENDER_ID = "BeanworksMPP"
SANDBOX_SENDER_PASSWORD = "sandbox-sender-secret"  # noqa: S105 - well-known test credential
SANDBOX_USER_ID = "Beanworks"
SANDBOX_USER_PASSWORD = "Sandbox-Pa55word"  # noqa: S105 - well-known test credential
GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
SANDBOX_PRODUCT_NAME = "Beanworks"
SANDBOX_ROLE_NAME = "Beanworks API"
SANDBOX_CUSTOM_FIELD_ID = "BEANWORKS"
SANDBOX_CUSTOM_FIELD_LABEL = "Beanworks"
SANDBOX_CUSTOM_FIELD_DESCRIPTION = "Link to this bill in Beanworks"

if TYPE_CHECKING:
    from intacct.checks import GuideNames

    from .app import make_app
    from .scenarios import SCENARIOS, Scenario, get_scenario
    from .server import serve_in_thread
    from .world import Company, Sandbox

__all__ = [
    "GATEWAY_PATH",
    "SANDBOX_CUSTOM_FIELD_DESCRIPTION",
    "SANDBOX_CUSTOM_FIELD_ID",
    "SANDBOX_CUSTOM_FIELD_LABEL",
    "SANDBOX_PRODUCT_NAME",
    "SANDBOX_ROLE_NAME",
    "SANDBOX_SENDER_ID",
    "SANDBOX_SENDER_PASSWORD",
    "SANDBOX_USER_ID",
    "SANDBOX_USER_PASSWORD",
    "SCENARIOS",
    "Company",
    "Sandbox",
    "Scenario",
    "get_scenario",
    "guide_names",
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


def guide_names() -> "GuideNames":
    """The names a sandbox company was set up with, as :func:`intacct.checks.verify` asks them."""
    from intacct.checks import GuideNames

    return GuideNames(
        product=SANDBOX_PRODUCT_NAME,
        ws_user_id=SANDBOX_USER_ID,
        role_name=SANDBOX_ROLE_NAME,
        sender_id=SANDBOX_SENDER_ID,
        custom_field_label=SANDBOX_CUSTOM_FIELD_LABEL,
        custom_field_id=SANDBOX_CUSTOM_FIELD_ID,
        custom_field_description=SANDBOX_CUSTOM_FIELD_DESCRIPTION,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
