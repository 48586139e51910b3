"""The GIN indexes stop using a pending list (fastupdate off): every search scanned its pending entries row by
row. Altered in place, not rebuilt, then the entries already pending are moved into the index."""

import django.contrib.postgres.indexes
from django.db import migrations

INDEXES = {"memory_search_vector": "search_vector", "memory_categories": "categories"}


class Migration(migrations.Migration):

    dependencies = [
        ("mem0_compat", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                operation
                for name, field in INDEXES.items()
                for operation in (
                    migrations.RemoveIndex(model_name="memory", name=name),
                    migrations.AddIndex(model_name="memory", index=django.contrib.postgres.indexes.GinIndex(
                        fastupdate=False, fields=[field], name=name)),
                )
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[f"ALTER INDEX {name} SET (fastupdate = off)" for name in INDEXES]
                    + [f"SELECT gin_clean_pending_list('{name}')" for name in INDEXES],
                    reverse_sql=[f"ALTER INDEX {name} RESET (fastupdate)" for name in INDEXES],
                ),
            ],
        ),
    ]
