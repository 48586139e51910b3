from django.dispatch import Signal

# Sent after commit when an append brought a session's event or token count to the threshold of a waiting
# eventCount / tokenCount strategy. Argument: session_id. The lifecycle app acts on it.
count_trigger_reached = Signal()
