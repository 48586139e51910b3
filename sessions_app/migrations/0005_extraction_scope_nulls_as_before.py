"""Until this version, an extract_memories strategy's opts `"userId": null` or `"runId": null` meant the default
(the participant, the session); now null means none (the user's long-term memory, or an agent's). Strategies
stored before, still to fire, keep what they meant: their null keys are dropped, leaving the default. Fired ones
are left as sent (a PATCH re-sending them unchanged must match), and re-arming is new with this version."""

from django.db import migrations

DROP_NULL_SCOPE_KEYS = """
    UPDATE sessions_app_lifecyclestrategy
       SET opts = opts - ARRAY(SELECT key FROM jsonb_each(opts)
                                WHERE key IN ('userId', 'runId') AND value = 'null'::jsonb)
     WHERE type = 'extract_memories' AND fired_at IS NULL AND jsonb_typeof(opts) = 'object'
       AND (opts -> 'userId' = 'null'::jsonb OR opts -> 'runId' = 'null'::jsonb)
"""


class Migration(migrations.Migration):

    dependencies = [
        ("sessions_app", "0004_schedule_strategies_from_before_0002"),
    ]

    operations = [migrations.RunSQL(DROP_NULL_SCOPE_KEYS, migrations.RunSQL.noop)]
