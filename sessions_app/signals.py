from django.dispatch import Signal

# Sent after commit when a change brought a session's event or token count to the threshold of a waiting
# eventCount / tokenCount strategy: an append (`event_append_batch`), or a new strategy, an edit or a restored
# event (`count_trigger_check`). Argument: session_id. The lifecycle app acts on it.
count_trigger_reached = Signal()
