"""A memory's created_at and updated_at are stamped by the database's clock, as its history rows are (0008),
not by the web processes' clocks, which may be apart: a memory added on one host and updated on another showed
updated_at before created_at. An add's own timestamp still sets created_at. Existing rows keep their times."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("mem0_compat", "0008_history_database_clock"),
    ]

    operations = [
        migrations.AlterField(
            model_name="memory",
            name="created_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
        migrations.AlterField(
            model_name="memory",
            name="updated_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
    ]
