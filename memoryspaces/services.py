"""Writes for tenants, API keys and memory spaces. Keyword-only arguments; one transaction each."""

from __future__ import annotations

import hashlib
import secrets
from contextlib import AbstractContextManager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.api.errors import BadRequest, Conflict, InvalidInput, NotFound
from config.queries import session_advisory_lock
from memoryspaces.models import ApiKey, MemorySpace, Tenant, User
from memoryspaces.signals import space_restored
from memoryspaces.validators import llm_setting_refusal

KEY_PREFIX_LENGTH = 8
PREFIX_DIGITS = frozenset("0123456789abcdef")  # secrets.token_hex's
KEY_ATTEMPTS = 5
DEFAULT_TENANT_NAME = "default"


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(raw_key: str) -> tuple[str, str] | None:
    """`mem_<prefix>_<secret>` -> (prefix, whole key); None when the shape is wrong. A prefix is hex digits,
    as `api_key_create` draws them: anything else (a NUL, which PostgreSQL refuses in text) is no key."""
    parts = raw_key.split("_", 2)
    if (len(parts) != 3 or parts[0] != "mem" or len(parts[1]) != KEY_PREFIX_LENGTH
            or not set(parts[1]) <= PREFIX_DIGITS or not parts[2]):
        return None
    return parts[1], raw_key


def _field_checked(model, field: str, value: str) -> str:
    """`value` as the admin's form would accept it for `model.field` (blank, length, the username's
    characters), else a BadRequest saying why: a command must not store what the admin cannot edit."""
    checked = model._meta.get_field(field)
    try:
        return checked.clean(value, None)
    except ValidationError as exc:
        raise BadRequest(f"The {model._meta.verbose_name}'s {checked.verbose_name} {value!r} is refused: "
                         f"{' '.join(exc.messages)}") from None


@transaction.atomic
def user_ensure(*, username: str, tenant_name: str | None = None) -> User:
    """Find or create the user, and its tenant (by name) when it has none yet. A new user's username and
    a new tenant's name are checked first (BadRequest)."""
    user = User.objects.filter(username=username).select_related("tenant").first()
    if user is None:
        user = User(username=_field_checked(User, "username", username))
        user.set_unusable_password()
    if user.tenant is None or (tenant_name and user.tenant.name != tenant_name):
        if user.tenant is not None:
            raise Conflict(f"User {username!r} already belongs to tenant {user.tenant.name!r}")
        name = _field_checked(Tenant, "name", tenant_name or DEFAULT_TENANT_NAME)
        user.tenant, _ = Tenant.objects.get_or_create(name=name)
    user.save()
    return user


@transaction.atomic
def api_key_create(*, user: User, name: str = "") -> tuple[ApiKey, str]:
    """Create a key for `user`. Returns the row and the key in clear, which is never stored.

    The prefix (32 random bits, unique) may already be taken, if rarely: a new key is drawn, up to
    KEY_ATTEMPTS times, then it is a Conflict. The unique index decides, also between concurrent creates.
    A name longer than its column is a BadRequest."""
    name = _field_checked(ApiKey, "name", name)
    for _ in range(KEY_ATTEMPTS):
        prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
        raw_key = f"mem_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():  # a savepoint: after a collision the transaction goes on
                return ApiKey.objects.create(prefix=prefix, digest=api_key_digest(raw_key), user=user,
                                             name=name), raw_key
        except IntegrityError:
            if not ApiKey.objects.filter(prefix=prefix).exists():
                raise  # not a prefix collision
    raise Conflict(f"Could not draw an unused API key prefix in {KEY_ATTEMPTS} attempts; try again")


@transaction.atomic
def user_api_key_create(*, username: str, tenant_name: str | None = None, name: str = "") -> tuple[ApiKey, str]:
    """`user_ensure`, then `api_key_create` for that user, all or nothing: a key that cannot be made leaves no
    new user or tenant behind."""
    return api_key_create(user=user_ensure(username=username, tenant_name=tenant_name), name=name)


@transaction.atomic
def first_admin_create(*, username: str) -> tuple[User, str, str] | None:
    """The first start's admin (staff and superuser, with a new password) in a new tenant, and its first
    API key: (user, password, key in clear). None, changing nothing, once any user exists: an account of
    that name is the operator's, never taken over. No lock: of two first starts at once, the second fails
    on the unique username."""
    if User.objects.exists():
        return None
    password = secrets.token_urlsafe(12)
    user = user_ensure(username=username)
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    _, raw_key = api_key_create(user=user, name="first key")
    return user, password, raw_key


@transaction.atomic
def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (the `mem_<prefix>_` part, with or without `mem_`). Idempotent."""
    prefix = prefix.removeprefix("mem_").split("_", 1)[0]
    key = ApiKey.objects.select_for_update().filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"No API key with prefix {prefix!r}")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def _space_dedup_conflict(*, owner: User, key: str) -> Conflict:
    existing = MemorySpace.objects.alive().filter(owner=owner, deduplication_key=key).first()
    existing_id = str(existing.id) if existing else None
    return Conflict(
        "A live memory space with this deduplication key already exists",
        errorName="MemorySpaceDeduplicationConflict",
        deduplicationKey=key,
        existingMemorySpaceId=existing_id,
        existingMemorySpaceUrl=f"/memory/{existing_id}/" if existing_id else None,
    )


def space_create(*, owner: User, fields: dict) -> MemorySpace:
    """Create a space owned by `owner` in its tenant. A live space of the same owner with the same
    deduplication key is a 409; the partial unique index decides races between concurrent creates. A model
    whose calls would go where LLM_ALLOWED_HOSTS does not allow is a 422 (`_refuse_llm_model`)."""
    space = MemorySpace(owner=owner, tenant_id=owner.tenant_id, **fields)
    _refuse_llm_model(space, loc=("body", "llmModelName"))
    key = fields.get("deduplication_key")
    if key and MemorySpace.objects.alive().filter(owner=owner, deduplication_key=key).exists():
        raise _space_dedup_conflict(owner=owner, key=key)
    try:
        with transaction.atomic():
            space.save(force_insert=True)
            return space
    except IntegrityError:
        raise _space_dedup_conflict(owner=owner, key=key) from None


@transaction.atomic
def space_update(*, space: MemorySpace, fields: dict, model_loc: tuple = ("body", "llmModelName")) -> MemorySpace:
    """Set exactly the given fields (an explicit None clears one). A change of the model or base URL that
    sends the calls where LLM_ALLOWED_HOSTS does not allow is a 422 at `model_loc` (where the caller named the
    model), changing nothing. Returns the space as stored; NotFound when it was deleted meanwhile.

    Locking: the space's row (SELECT … FOR UPDATE), read afresh: the model and the base URL are checked
    together, so a PATCH of one must see the other as it is stored, not as its request read it (two PATCHes
    at once stored groq with a base URL it ignores)."""
    locked = MemorySpace.objects.alive().select_for_update().filter(pk=space.pk).first()
    if locked is None:
        raise NotFound("Memory space not found")
    for name, value in fields.items():
        setattr(locked, name, value)
    if fields.keys() & {"llm_model_name", "llm_base_url"}:
        _refuse_llm_model(locked, loc=model_loc)
    if fields:
        locked.save(update_fields=list(fields))
    return locked


def _refuse_llm_model(space: MemorySpace, *, loc: tuple) -> None:
    """The base URL alone was checked as a field; with the model it may leave the calls to the provider's
    default endpoint, a port of localhost for ollama, vllm and lmstudio, or be one the provider never uses."""
    if refusal := llm_setting_refusal(space.llm_model_name, space.llm_base_url):
        raise InvalidInput.at(list(loc), refusal)


@transaction.atomic
def space_soft_delete(*, space: MemorySpace) -> None:
    """Hide the space and everything under it; rows stay until `purge_deleted` removes them."""
    updated = MemorySpace.objects.alive().filter(pk=space.pk).update(deleted_at=timezone.now())
    if not updated:
        raise NotFound("Memory space not found")


# `purge_deleted` removes a deleted space or session, and what hangs under it, in many short transactions: a
# restore between two of them would bring back a half-purged one. So the two exclude each other through this
# advisory lock: a purge holds it for its whole run, a restore takes it shared for its own transaction.
PURGE_LOCK_KEY = 7_305_460_061_813_272_321


def purge_lock() -> AbstractContextManager[None]:
    """Held by a purge for its whole run, across its transactions (a session-level lock); waits for the
    restores under way to commit."""
    return session_advisory_lock(PURGE_LOCK_KEY)


def refuse_restore_while_purging() -> None:
    """Inside a restore's transaction: a Conflict while a purge runs, else the purge waits for this commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", [PURGE_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise Conflict("Deleted rows are being purged (manage.py purge_deleted): restore once it has finished")


@transaction.atomic
def space_restore(*, space: MemorySpace) -> None:
    """Show the space again; the lifecycle strategies of its live sessions are scheduled again (through
    `space_restored`, in this transaction). Refused while a purge runs (`refuse_restore_while_purging`)."""
    refuse_restore_while_purging()
    MemorySpace.objects.filter(pk=space.pk).update(deleted_at=None)
    space_restored.send(MemorySpace, space_id=space.pk)
