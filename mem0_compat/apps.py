from django.apps import AppConfig


class Mem0CompatConfig(AppConfig):
    name = "mem0_compat"
    verbose_name = "Long-term memory (mem0-compatible)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mem0_compat import checks  # noqa: F401 - registers them
