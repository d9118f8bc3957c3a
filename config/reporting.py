"""Error reports (the debug page, logged tracebacks) without form values or connection URLs."""

from __future__ import annotations

import re

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide every POST value, even on the development debug page: forms here carry passwords."""

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
