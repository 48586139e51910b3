import hashlib

import factory
from django.utils import timezone
from rest_framework.test import APIClient

from memoryspaces.models import MemorySpace, Tenant, User
from memoryspaces.services import api_key_create
from sessions_app.models import Session
from sessions_app.services import session_create


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user-{n}")
    tenant = factory.SubFactory(TenantFactory)


class MemorySpaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemorySpace

    owner = factory.SubFactory(UserFactory)
    tenant = factory.SelfAttribute("owner.tenant")
    description = factory.Sequence(lambda n: f"space {n}")


def make_session(space: MemorySpace, **kwargs) -> Session:
    """A session created through the service, so it has its lifecycle strategies like a real one."""
    kwargs.setdefault("participants", ["67500a000000000000000001"])
    kwargs.setdefault("strategies", [])
    return session_create(space=space, **kwargs)


def make_api_key(user: User) -> str:
    return api_key_create(user=user)[1]


def client_with_key(raw_key: str) -> APIClient:
    """The in-process HTTP client, sending `raw_key` on every request."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


class MemoryFactory(factory.django.DjangoModelFactory):
    """A stored memory without an embedding (filters and listings do not need one)."""

    class Meta:
        model = "mem0_compat.Memory"

    space = factory.SubFactory(MemorySpaceFactory)
    memory = factory.Sequence(lambda n: f"fact number {n}")
    hash = factory.LazyAttribute(lambda m: hashlib.md5(m.memory.encode()).hexdigest())
    user_id = "alice"
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")


def post_at_once(url: str, body: dict, *, api_key: str, times: int = 6) -> tuple[dict, list[dict]]:
    """POST `body` to `url` from `times` threads at once: (the one 201's body, the other answers' bodies, which
    the caller expects to be 409s). Fails unless exactly one answered 201 and every other 409."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def create(_):
        response = requests.post(url, json=body, headers={"Authorization": f"Token {api_key}"}, timeout=30)
        return response.status_code, response.json()

    with ThreadPoolExecutor(times) as pool:
        answers = list(pool.map(create, range(times)))
    assert sorted(status for status, _ in answers) == [201] + [409] * (times - 1), answers
    [winner] = [body for status, body in answers if status == 201]
    return winner, [body for status, body in answers if status == 409]


def json_object_of(size: int, *, key: str = "k") -> dict:
    """`{key: "xx…"}` of exactly `size` bytes as compact UTF-8 JSON text (how `config.limits` measures)."""
    return {key: "x" * (size - len(key) - 7)}  # {"k":""} is 7 characters besides the key
