import pytest
from rest_framework.test import APIClient

from tests.factories import MemorySpaceFactory, UserFactory, make_api_key, make_session


def pytest_unconfigure(config):
    """Stop the embedded PostgreSQL and Redis if this test run is the one that started them."""
    from django.conf import settings

    if not settings.configured:
        return
    from config.embedded import EmbeddedPostgres, EmbeddedRedis

    if getattr(settings, "EMBEDDED_REDIS_STARTED", False):
        EmbeddedRedis(settings.DATA_DIR).stop()
    if getattr(settings, "EMBEDDED_POSTGRES_STARTED", False):
        from django.db import connections

        connections.close_all()
        EmbeddedPostgres(settings.DATA_DIR).stop()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def api_key(user):
    return make_api_key(user)


@pytest.fixture
def other_user(db):
    """A user of another tenant."""
    return UserFactory()


@pytest.fixture
def other_api_key(other_user):
    return make_api_key(other_user)


@pytest.fixture
def api(api_key):
    """The in-process HTTP client, authenticated as `user`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key}")
    return client


@pytest.fixture
def other_api(other_api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {other_api_key}")
    return client


@pytest.fixture
def space(user):
    return MemorySpaceFactory(owner=user)


@pytest.fixture
def session(space):
    return make_session(space)


@pytest.fixture
def dr(live_server, api_key):
    """The real `datarobot` client package, pointed at a live server started for the test."""
    import datarobot

    datarobot.Client(token=api_key, endpoint=f"{live_server.url}/api/v2")
    return datarobot
