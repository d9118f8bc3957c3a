"""How we sign in: the company's request limit comes from its API Sync Profile and is held in Redis
when REDIS_URL is set (shared by every worker), in the process otherwise."""

from __future__ import annotations

import pytest

from connections.services.signin import DEFAULT_CONCURRENT_REQUESTS, client_for
from intacct import PROCESS_LIMITER, RedisLimiter
from tests.factories import ApiSyncProfileFactory, ConnectionAttemptFactory

pytestmark = pytest.mark.django_db


def test_the_limit_is_the_profiles(legal_entity, settings):
    settings.REDIS_URL = ""
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    with client_for(attempt) as client:
        assert client.max_concurrency == DEFAULT_CONCURRENT_REQUESTS == 2
        assert client._limiter is PROCESS_LIMITER
    ApiSyncProfileFactory(legal_entity=legal_entity, max_concurrent_requests=5)
    with client_for(attempt) as client:
        assert client.max_concurrency == 5


def test_with_redis_the_limit_is_shared(legal_entity, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    with client_for(attempt) as client:
        assert isinstance(client._limiter, RedisLimiter)
