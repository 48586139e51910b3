from django.core.management.base import CommandError

from config.api.errors import NotFound
from config.commands import DatabaseCommand
from memoryspaces.services import api_key_revoke


class Command(DatabaseCommand):
    help = "Revoke the API key with this PREFIX (the 8 characters after 'mem_', or the whole key)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        try:
            key = api_key_revoke(prefix=prefix)
        except NotFound as exc:
            raise CommandError(exc.detail) from None
        revoked_at = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}"
        self.stdout.write(f"Revoked API key {key.prefix} of user {key.user.username} at {revoked_at}.")
