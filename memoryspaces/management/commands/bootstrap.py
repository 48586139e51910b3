from django.core.management.base import BaseCommand

from memoryspaces.models import ApiKey
from memoryspaces.services import api_key_create, user_ensure


class Command(BaseCommand):
    help = "First start: when no API key exists yet, create a first tenant, user and key, and print the key."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        if ApiKey.objects.exists():
            self.stdout.write("API keys exist already; create more with `manage.py create_api_key USERNAME`.")
            return
        user = user_ensure(username=username)
        _, raw_key = api_key_create(user=user, name="first key")
        self.stdout.write(self.style.SUCCESS(
            f"First start: created tenant '{user.tenant.name}', user '{user.username}' and this API key "
            "(shown once; store it):"))
        self.stdout.write(raw_key)
