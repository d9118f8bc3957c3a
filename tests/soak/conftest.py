"""``make soak``: long runs under faults and load. Each test adds rows to one summary table,
printed at the end of the run; the figures are measured, and the tests assert only behaviour
(exact data, no errors, limits kept); speed is printed with its target, never asserted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

# The sandbox and worker fixtures of the connections tests, used by name here too.
from tests.connections.conftest import (  # noqa: F401
    _in_memory_broker,
    connected,
    make_attempt,
    pauses,
    sandbox,
    sandbox_gateway,
    sandbox_world,
)
from tests.connections.workers import (  # noqa: F401
    broker_url,
    private_redis,
    start_worker,
    task_queue,
)

#: (table, row label, figures) in the order the tests add them.
ROWS: list[tuple[str, str, dict[str, Any]]] = []

Report = Callable[..., None]


@pytest.fixture
def soak_report() -> Report:
    """``soak_report(table, label, **figures)``: a row of the summary table."""

    def add(table: str, label: str, **figures: Any) -> None:
        ROWS.append((table, label, figures))

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("soak summary")
    for table in dict.fromkeys(t for t, _, _ in ROWS):
        rows = [(label, figures) for t, label, figures in ROWS if t == table]
        columns = list(dict.fromkeys(k for _, figures in rows for k in figures))
        cells = [[label, *(_cell(figures.get(c)) for c in columns)] for label, figures in rows]
        header = [table, *columns]
        widths = [max(len(str(x)) for x in column) for column in zip(header, *cells, strict=True)]
        write("")
        write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        write("  ".join("-" * w for w in widths))
        for row in cells:
            write(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
