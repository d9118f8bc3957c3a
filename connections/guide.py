"""The connection guide as the wizard and the hand-off pages show it: each step's page (its number,
title, the guide heading it belongs to, a summary) and the previous/next navigation between them.

The steps themselves, their order and where a failure points are :class:`connections.models.Step`;
this module adds the page copy (which carries the product name of ``settings.INTACCT_GUIDE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from connections.models import HANDOFF_STEPS, LegalEntity, Step

__all__ = [
    "Neighbours",
    "StepPage",
    "fix_label",
    "handoff_step_urls",
    "neighbours",
    "step_pages",
    "wizard_step_urls",
]


@dataclass(frozen=True)
class StepPage:
    """One wizard page: its number in the guide, its title, the guide heading it belongs to."""

    step: Step
    number: int
    title: str
    section: str
    summary: str
    acknowledge: bool = True

    @property
    def template(self) -> str:
        return f"connections/steps/{self.step.value}.html"

    @property
    def label(self) -> str:
        return str(self.step.label)

    @property
    def intacct_side(self) -> bool:
        return self.step in HANDOFF_STEPS


def step_pages() -> dict[Step, StepPage]:
    """Every step's page, in guide order (the guide's headings carry the product name)."""
    product = settings.INTACCT_GUIDE["PRODUCT_NAME"]
    requirements = "Create Web Services User and Role"
    connecting = f"Connecting {product} to Sage Intacct"
    pages = [
        StepPage(
            Step.PRE_CONNECTION,
            0,
            "Pre-connection checklist",
            "Pre-connection checklist",
            "Before you start: who can connect, and what to have ready.",
        ),
        StepPage(
            Step.WS_SUBSCRIPTION,
            1,
            "Turn on the Web Services subscription",
            requirements,
            "Ensure that Sage Intacct allows web user connection.",
        ),
        StepPage(
            Step.WS_USER,
            2,
            "Create the Web Services user",
            requirements,
            f"A special user that {product} signs in with through the Intacct web API.",
        ),
        StepPage(
            Step.ROLE_PERMISSIONS,
            3,
            "Create the role and grant its permissions",
            requirements,
            "A dedicated role: the set of permissions that dictate what the user can do.",
        ),
        StepPage(
            Step.ROLE_ASSIGNMENT,
            4,
            "Assign the role to the Web Services user",
            requirements,
            f"Associate the new role with the Web Services user so {product} and Sage Intacct "
            "can integrate.",
        ),
        StepPage(
            Step.SENDER_AUTHORIZATION,
            5,
            "Authorize the Sender ID",
            f"Grant {product} Web Services Authorization",
            f"{product} requires Web Services Authorization to connect with Intacct.",
        ),
        StepPage(
            Step.CUSTOM_FIELD,
            6,
            "Add the AP Bill URL custom field",
            f"Create a Custom Field for {product} URLs",
            f"A link on the Bill in Intacct that opens the corresponding Invoice in {product}.",
        ),
        StepPage(
            Step.CREDENTIALS,
            7,
            "Enter the credentials and test the connection",
            connecting,
            f"Enable the connection between {product} and Sage Intacct, then check every step "
            "live.",
            acknowledge=False,
        ),
        StepPage(
            Step.API_SYNC_PROFILE,
            8,
            "API Sync Profile",
            connecting,
            "Customer success creates the API Sync Profile for your legal entity.",
            acknowledge=False,
        ),
        StepPage(
            Step.SMARTSYNC,
            9,
            "Enable SmartSync",
            "Enable SmartSync",
            "Sync all list items from Sage Intacct.",
            acknowledge=False,
        ),
    ]
    return {page.step: page for page in pages}


def fix_label(step: Step) -> str:
    """The text of a link to the step that fixes a failure: "Go to step 3: Role and
    permissions"."""
    page = step_pages()[step]
    return f"Go to step {page.number}: {page.label}"


@dataclass(frozen=True)
class Neighbours:
    """The pages before and after a step within a walk through some of the guide's steps."""

    previous: StepPage | None
    next: StepPage | None


def neighbours(step: Step, steps: tuple[Step, ...] | None = None) -> Neighbours:
    """The pages before and after ``step`` among ``steps`` (every step of the guide by default;
    the hand-off walks only :data:`~connections.models.HANDOFF_STEPS`)."""
    order = list(steps or tuple(Step))
    pages = step_pages()
    index = order.index(step)
    return Neighbours(
        previous=pages[order[index - 1]] if index > 0 else None,
        next=pages[order[index + 1]] if index + 1 < len(order) else None,
    )


def wizard_step_urls(legal_entity: LegalEntity) -> dict[str, str]:
    """Each step's wizard page for ``legal_entity``, by step value."""
    return {
        step.value: reverse(f"connections:{step.value}", args=[legal_entity.public_id])
        for step in Step
    }


def handoff_step_urls(token: str) -> dict[str, str]:
    """Each Intacct-side step's page through the hand-off link ``token``, by step value."""
    return {
        step.value: reverse("connections:handoff_step", args=[token, step.value])
        for step in HANDOFF_STEPS
    }
