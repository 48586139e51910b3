from django.dispatch import Signal

# Sent inside the transaction that restores a soft-deleted space. Argument: space_id. The lifecycle app
# schedules the strategies of the space's sessions again (its sweep parks them while the space is deleted).
space_restored = Signal()
