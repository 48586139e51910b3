"""Strategies written before 0002 get the schedule the sweep reads: 0002 added due times and the sessions' next
count thresholds empty, so none of them ever fired (the default 180-day soft delete included). What session_create
would have set: ttl from the session's creation, idle from its last activity (the sweep postpones it as activity
goes on), the lowest waiting eventCount / tokenCount thresholds. Strategies of deleted sessions, or of sessions in
deleted spaces, stay unscheduled, as the sweep parks them: restoring one schedules them.

Only rows still lacking their schedule are written, so a database migrated past 0002 since is left as it is."""

from django.db import migrations

SCHEDULE_TIMED = """
    UPDATE sessions_app_lifecyclestrategy AS st
       SET due_at = CASE st.trigger WHEN 'ttl' THEN s.created_at ELSE coalesce(s.last_event_at, s.created_at) END
                    + st.threshold * interval '1 second'
      FROM sessions_app_session AS s JOIN memoryspaces_memoryspace AS m ON m.id = s.space_id
     WHERE s.id = st.session_id AND st.trigger IN ('ttl', 'idle') AND st.fired_at IS NULL AND st.due_at IS NULL
       AND s.deleted_at IS NULL AND m.deleted_at IS NULL
"""

SCHEDULE_COUNTED = """
    UPDATE sessions_app_session AS s
       SET next_event_trigger = (SELECT min(threshold) FROM sessions_app_lifecyclestrategy
                                  WHERE session_id = s.id AND trigger = 'eventCount' AND fired_at IS NULL),
           next_token_trigger = (SELECT min(threshold) FROM sessions_app_lifecyclestrategy
                                  WHERE session_id = s.id AND trigger = 'tokenCount' AND fired_at IS NULL)
     WHERE s.id IN (SELECT st.session_id FROM sessions_app_lifecyclestrategy AS st JOIN sessions_app_session AS w
                        ON w.id = st.session_id
                     WHERE st.fired_at IS NULL
                       AND ((st.trigger = 'eventCount' AND w.next_event_trigger IS NULL)
                            OR (st.trigger = 'tokenCount' AND w.next_token_trigger IS NULL)))
"""


class Migration(migrations.Migration):

    dependencies = [
        ("memoryspaces", "0001_initial"),
        ("sessions_app", "0003_bodies_and_metadata_as_sent"),
    ]

    operations = [
        migrations.RunSQL(sql=[SCHEDULE_TIMED, SCHEDULE_COUNTED], reverse_sql=migrations.RunSQL.noop),
    ]
