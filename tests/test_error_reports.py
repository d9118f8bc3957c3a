"""Error reports (the debug page, a report e-mailed or logged) never show a secret: POST values,
local variables' values and secret settings are hidden; the names stay, for debugging."""

from __future__ import annotations

import sys
import uuid

import pytest
from django.views.debug import ExceptionReporter

# Made at run time: the report quotes this file's source lines around each frame.
PASSWORD = f"Report-{uuid.uuid4().hex}"
SENDER_PASSWORD = f"Report-sender-{uuid.uuid4().hex}"


def _fail_holding(password: str) -> None:
    plaintext = password  # a secret in local variables, under any name
    raise RuntimeError(f"failed with {len(plaintext)} characters")


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug page"])
def test_error_reports_name_variables_but_never_show_their_values(rf, settings, debug):
    settings.DEBUG = debug
    settings.INTACCT_SENDER_PASSWORD = SENDER_PASSWORD
    request = rf.post("/connect/", {"password": PASSWORD})
    try:
        _fail_holding(PASSWORD)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())

    page, text = reporter.get_traceback_html(), reporter.get_traceback_text()

    for secret in (PASSWORD, SENDER_PASSWORD):
        assert secret not in page
        assert secret not in text
    assert "<td>password</td>" in page
    assert "<td>plaintext</td>" in page
    assert f"failed with {len(PASSWORD)} characters" in text
