import secrets

from django.core.management.base import BaseCommand

from memoryspaces.models import ApiKey
from memoryspaces.services import api_key_create, user_ensure


class Command(BaseCommand):
    help = ("First start: when no API key exists yet, create a first tenant and an admin user (for /admin/ and "
            "the API), print its password and an API key. The key is the last line.")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        if ApiKey.objects.exists():
            self.stdout.write("API keys exist already; create more with `manage.py create_api_key USERNAME`.")
            return
        user = user_ensure(username=username)
        password = secrets.token_urlsafe(12)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        _, raw_key = api_key_create(user=user, name="first key")
        self.stdout.write(self.style.SUCCESS(
            f"First start: created tenant '{user.tenant.name}' and user '{user.username}' "
            f"(admin password: {password}). Its API key, shown once; store it:"))
        self.stdout.write(raw_key)
