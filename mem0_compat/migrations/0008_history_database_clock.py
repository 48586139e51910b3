"""History rows are stamped by the database"s clock, as an add"s own INSERT stamps its ADD rows, rather than by
the web processes" clocks, which may be behind it and sorted an UPDATE before its ADD. Existing rows keep their
times."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("mem0_compat", "0007_history_input_stored_once"),
    ]

    operations = [
        migrations.AlterField(
            model_name="memoryhistory",
            name="created_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), editable=False),
        ),
        migrations.AlterField(
            model_name="memoryhistory",
            name="updated_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), editable=False),
        ),
    ]
