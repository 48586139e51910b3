from django.core.management.base import CommandError

from config.api.errors import BadRequest, Conflict
from config.commands import DatabaseCommand
from memoryspaces.services import user_api_key_create


class Command(DatabaseCommand):
    help = "Create an API key for USERNAME (creating the user, and its tenant, if needed). The key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", help="tenant name for a new user (default: 'default')")
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args, username, tenant, name, **options):
        try:
            key, raw_key = user_api_key_create(username=username, tenant_name=tenant, name=name)
        except (BadRequest, Conflict) as exc:  # a bad argument, a user of another tenant, no unused key prefix
            raise CommandError(exc.detail) from None
        user = key.user
        self.stdout.write(f"Created API key {key.prefix} for user {user.username} in tenant {user.tenant.name}.")
        self.stdout.write("Store it now: it is not kept in clear and cannot be shown again.")
        self.stdout.write(raw_key)
