from django.apps import AppConfig


class MemorySpacesConfig(AppConfig):
    name = "memoryspaces"
    verbose_name = "Tenants, API keys and memory spaces"
    default_auto_field = "django.db.models.BigAutoField"
