"""A session's creation time is stamped by the database (its statement's time, as appends stamp last_event_at),
not by the web process's clock: ttl and idle count from it, and the sweep compares them with the database's
clock. Existing rows keep their times."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sessions_app", "0005_extraction_scope_nulls_as_before"),
    ]

    operations = [
        migrations.AlterField(
            model_name="session",
            name="created_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), editable=False),
        ),
    ]
