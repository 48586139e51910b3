import hmac
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from memoryspaces.models import ApiKey
from memoryspaces.selectors import api_key_usable
from memoryspaces.services import api_key_digest, split_api_key

INVALID = "Invalid or revoked API key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` / `Authorization: Bearer <key>` / `X-API-Key: <key>`.

    The key's prefix finds the row; its SHA-256 digest is compared in constant time. A revoked key or a user
    without a tenant is refused at once (nothing is cached).
    """

    def authenticate(self, request):
        raw_key = self._raw_key(request)
        if raw_key is None:
            return None
        parsed = split_api_key(raw_key)
        if parsed is None:
            raise exceptions.AuthenticationFailed(INVALID)
        prefix, whole = parsed
        key = api_key_usable(prefix=prefix)
        if key is None or not hmac.compare_digest(key.digest, api_key_digest(whole)):
            raise exceptions.AuthenticationFailed(INVALID)
        self._touch(key)
        return key.user, key

    def authenticate_header(self, request):
        return 'Token realm="api"'

    @staticmethod
    def _raw_key(request) -> str | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() not in ("token", "bearer") or not value.strip():
                raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>' or 'Bearer <key>'")
            return value.strip()
        api_key = request.META.get("HTTP_X_API_KEY", "").strip()
        return api_key or None

    @staticmethod
    def _touch(key: ApiKey) -> None:
        now = timezone.now()
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        if key.last_used_at is None or now - key.last_used_at > resolution:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
