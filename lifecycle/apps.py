from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Session lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from lifecycle import receivers  # noqa: F401  (connects the signal handlers)
