"""The entity picker: the Intacct entities (``LOCATIONENTITY``) of an attempt's company, listed
signed in at top level. (A *legal entity* is ours; an *Intacct entity* is the customer's.)

Nothing is cached: the list is asked for each time (it is one request), so no copy of what the
credentials opened outlives the request.
"""

from __future__ import annotations

import logging
from typing import Any

from connections.models import ConnectionAttempt, Step, step_for_intacct
from connections.services import alerts
from connections.services.signin import (
    client_for,
    guide_names,
    record_sign_in_refused,
    sign_in_paused,
)
from intacct import (
    STEP_TRANSIENT,
    UNKNOWN_COMPANY,
    EndpointError,
    IntacctError,
    SignInError,
    UnknownCompanyError,
    list_entities,
    remedy_for,
)

__all__ = ["EntityListError", "list_intacct_entities"]

logger = logging.getLogger(__name__)


class EntityListError(Exception):
    """Intacct did not list the entities. ``message`` says why in plain words and names the
    guide step that fixes it; ``step`` is that wizard step (``None``: try again later, or ours to
    fix)."""

    def __init__(self, message: str, *, step: Step | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step


def list_intacct_entities(attempt: ConnectionAttempt, *, actor: Any = None) -> list[dict[str, str]]:
    """``[{"id", "name", "status"}]`` for the attempt's company (empty without multi-entity);
    :class:`EntityListError` when Intacct refuses or cannot be reached, or when its sign-ins
    are paused after repeated refusals (``actor`` is who asked, for the count)."""
    paused = sign_in_paused(attempt)
    if paused:
        raise EntityListError(paused, step=Step.CREDENTIALS)
    try:
        with client_for(attempt, entity_id=False) as client:
            return list_entities(client)
    except EndpointError:
        logger.error(
            "entity list for attempt %s: the endpoint is not allowed (INTACCT_ALLOWED_ENDPOINT_HOSTS)",
            attempt.public_id,
        )
        raise EntityListError(
            "This connection's Intacct address is not one we send credentials to. This is ours "
            "to fix, not yours: we have been alerted."
        ) from None
    except IntacctError as err:
        if isinstance(err, SignInError):
            record_sign_in_refused(attempt, actor=actor, during="entity_list")
        raise EntityListError(_message(attempt, err), step=step_for_intacct(err.step)) from None


def _message(attempt: ConnectionAttempt, err: IntacctError) -> str:
    names = guide_names()
    step = err.step or "credentials"
    if step == STEP_TRANSIENT:
        return (
            "Intacct could not be reached or did not answer in time, so the entities could not be "
            "listed. Nothing was lost: try again in a few minutes, or type the entity ID."
        )
    if step == "sender_config":
        alerts.sender_credentials_refused(
            attempt, errorno=getattr(err, "errorno", None), during="entity_list"
        )
        return (
            "Intacct refused our own Web Services sender credentials. This is our configuration, "
            "not yours: we have been alerted and will fix it. You can type the entity ID meanwhile."
        )
    wizard = step_for_intacct(step) or Step.CREDENTIALS
    if isinstance(err, UnknownCompanyError):
        what = UNKNOWN_COMPANY
    else:
        what = "Intacct refused the sign-in"
    return (
        f"{what}, so the entities could not be listed. See the guide step "
        f"“{wizard.label}”: {remedy_for(step, names)}"
    )
