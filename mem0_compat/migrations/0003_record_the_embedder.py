"""The embedding column records the embedder that made its vectors (its comment, see `vector_column`). The
vectors already stored are taken to be the configured embedder's: the only one the service has used."""

from django.db import migrations


def record_configured_embedder(apps, schema_editor):
    from django.conf import settings

    from mem0_compat.vector_column import column_embedder, record_embedder

    if column_embedder(schema_editor.connection) is None:
        record_embedder(settings.EMBEDDER, schema_editor.connection)


def forget_embedder(apps, schema_editor):
    from mem0_compat.vector_column import TABLE

    schema_editor.execute(f"COMMENT ON COLUMN {TABLE}.embedding IS NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("mem0_compat", "0002_gin_indexes_without_pending_list"),
    ]

    operations = [
        migrations.RunPython(record_configured_embedder, reverse_code=forget_embedder),
    ]
