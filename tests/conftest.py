"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def user(django_user_model):
    """A plain, active user."""
    return django_user_model.objects.create_user(username="someone", password="a-long-password-1")


@pytest.fixture
def user_client(client: Client, user) -> Client:
    """The test client, logged in as ``user``."""
    client.force_login(user)
    return client
