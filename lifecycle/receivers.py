from django.dispatch import receiver

from memoryspaces.signals import space_restored
from sessions_app.models import Session
from sessions_app.services import strategies_schedule
from sessions_app.signals import count_trigger_reached


@receiver(count_trigger_reached)
def check_count_triggers_later(sender, session_id, **kwargs):
    """A change reached a count threshold: check it in a worker (an append's own statement stays lean)."""
    from lifecycle.tasks import check_count_triggers, publish

    publish(check_count_triggers, str(session_id))


@receiver(space_restored)
def schedule_strategies_of_restored_space(sender, space_id, **kwargs):
    """The sweep parked the ttl/idle strategies of the space's sessions while it was deleted."""
    strategies_schedule(sessions=Session.objects.alive().filter(space_id=space_id))
