"""History rows point to their add's messages, stored once (MemoryInput), instead of a copy each. Existing
copies move: one MemoryInput per distinct (space, messages), then the column goes. Reversible."""

import uuid

import django.db.models.deletion
from django.db import migrations, models

MOVE_INPUTS = """
INSERT INTO mem0_compat_memoryinput (id, space_id, messages, created_at)
SELECT gen_random_uuid(), space_id, input, min(created_at)
  FROM mem0_compat_memoryhistory WHERE input IS NOT NULL GROUP BY space_id, input;
UPDATE mem0_compat_memoryhistory AS h SET source_id = i.id
  FROM mem0_compat_memoryinput AS i
 WHERE h.input IS NOT NULL AND i.space_id = h.space_id AND i.messages = h.input;
"""

COPY_INPUTS_BACK = """
UPDATE mem0_compat_memoryhistory AS h SET input = i.messages
  FROM mem0_compat_memoryinput AS i WHERE h.source_id = i.id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('mem0_compat', '0006_memory_text_max_length'),
        ('memoryspaces', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='MemoryInput',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('messages', models.JSONField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('space', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memory_inputs', to='memoryspaces.memoryspace')),
            ],
        ),
        migrations.AddField(
            model_name='memoryhistory',
            name='source',
            field=models.ForeignKey(blank=True, help_text='the messages that caused it, when any', null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='history', to='mem0_compat.memoryinput'),
        ),
        migrations.RunSQL(MOVE_INPUTS, COPY_INPUTS_BACK),
        migrations.RemoveField(
            model_name='memoryhistory',
            name='input',
        ),
    ]
