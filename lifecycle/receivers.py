from django.dispatch import receiver

from sessions_app.signals import count_trigger_reached


@receiver(count_trigger_reached)
def check_count_triggers_later(sender, session_id, **kwargs):
    """An append reached a count threshold: check it in a worker (the append's own statement stays lean)."""
    from lifecycle.tasks import check_count_triggers, publish

    publish(check_count_triggers, str(session_id))
