"""Error reports (the debug page, logged tracebacks) without form values, local variables or
connection URLs."""

from __future__ import annotations

import re
from collections.abc import ItemsView
from types import FrameType
from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide every POST value and every local variable's value, even on the development debug
    page: forms here carry passwords, and the frames below a view hold them in plain text (the
    password typed, the one just decrypted, the Intacct request being sent)."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER_URL|REDIS_URL",
        flags=re.IGNORECASE,
    )

    def get_post_parameters(self, request: HttpRequest | None) -> QueryDict | dict[str, str]:
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for key in cleansed:
            cleansed[key] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        # Names only, as Django's @sensitive_variables() does for a whole function: a secret can
        # sit in any variable, under any name (kwargs, data, body), in our code or a library's.
        return {name: self.cleansed_substitute for name in tb_frame.f_locals}.items()
