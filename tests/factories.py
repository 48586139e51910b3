import hashlib

import factory
from django.utils import timezone

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
