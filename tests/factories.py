import factory

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
