from django.core.management.base import CommandError

from config.api.errors import BadRequest
from config.commands import DatabaseCommand
from memoryspaces.services import first_admin_create


class Command(DatabaseCommand):
    help = ("First start: when no user exists yet, create a first tenant and an admin user (for /admin/ and the "
            "API), print its password and an API key. The key is the last line. Existing users are never changed.")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        try:
            created = first_admin_create(username=username)
        except BadRequest as exc:  # a username the admin would refuse
            raise CommandError(exc.detail) from None
        if created is None:
            self.stdout.write("Users exist already: nothing to do. Create API keys with "
                              "`manage.py create_api_key USERNAME`, admin logins with `manage.py createsuperuser`.")
            return
        user, password, raw_key = created
        self.stdout.write(self.style.SUCCESS(
            f"First start: created tenant '{user.tenant.name}' and user '{user.username}' "
            f"(admin password: {password}). Its API key, shown once; store it:"))
        self.stdout.write(raw_key)
