import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from memoryspaces.validators import (
    LLM_BASE_URL_INVALID,
    is_llm_base_url,
    llm_host_refusal,
    llm_setting_refusal,
)


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class Tenant(models.Model):
    """The isolation boundary between customers: a user sees only its tenant's objects."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class User(AbstractUser):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="users", null=True, blank=True)

    def clean(self):
        super().clean()
        # A space is in its owner's tenant (MemorySpace.clean): moving its owner would leave it in the old one,
        # with the owner's keys answering for another tenant.
        if self.pk and self.memory_spaces.exclude(tenant_id=self.tenant_id).exists():
            raise ValidationError({"tenant": "This user owns memory spaces of another tenant; give them to "
                                             "another owner there first."})


class ApiKey(models.Model):
    """An API key: shown once at creation; only its prefix (for lookup) and SHA-256 digest are kept.

    Keys are 256-bit random strings, so a fast digest is as safe as a slow password hash here and keeps
    authentication cheap on every request.
    """

    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.user})"


class MemorySpace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="memory_spaces")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memory_spaces")
    description = models.CharField(max_length=1000, null=True, blank=True)
    llm_model_name = models.CharField(max_length=200, null=True, blank=True)
    llm_base_url = models.CharField(max_length=2083, null=True, blank=True)
    custom_instructions = models.TextField(max_length=10000, null=True, blank=True)
    deduplication_key = models.CharField(max_length=72, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="space_tenant_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "deduplication_key"],
                condition=Q(deleted_at__isnull=True, deduplication_key__isnull=False),
                name="space_live_dedup_key_per_owner",
            )
        ]

    def __str__(self):
        return self.description or str(self.id)

    def clean(self):
        # The API makes every space in its owner's tenant; an admin edit must not mix two tenants either.
        if self.owner_id and self.tenant_id and self.owner.tenant_id != self.tenant_id:
            raise ValidationError({"owner": "The owner must belong to the space's tenant."})
        # What PATCH takes: adds send the space's LLM calls to this URL.
        if self.llm_base_url and not is_llm_base_url(self.llm_base_url):
            raise ValidationError({"llm_base_url": LLM_BASE_URL_INVALID})
        if self.llm_base_url and (refusal := llm_host_refusal(self.llm_base_url)):
            raise ValidationError({"llm_base_url": refusal})
        if refusal := llm_setting_refusal(self.llm_model_name, self.llm_base_url):
            raise ValidationError({"llm_model_name": refusal})
        # The form leaves deleted_at out, so Django skips the conditional unique constraint: checked here, or
        # the save is a 500 from the database.
        if (self.deduplication_key is not None and self.deleted_at is None and self.owner_id
                and MemorySpace.objects.alive().filter(owner_id=self.owner_id, deduplication_key=self.deduplication_key)
                .exclude(pk=self.pk).exists()):
            raise ValidationError({"deduplication_key": "Another live space of this owner already uses this "
                                                        "deduplication key."})
