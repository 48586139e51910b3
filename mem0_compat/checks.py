"""System checks of the long-term memory, run by `migrate` (so by `make run` and the compose file before the
web processes start) and by `manage.py check --database default`."""

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections

from mem0_compat.vector_column import embedder_mismatch


@register(Tags.database)
def embedder_made_the_stored_vectors(app_configs, databases=None, **kwargs):
    """A warning, not an error: chat history works on, while every memory request answers 503 with the
    same explanation until `reembed` has run."""
    if not databases or "default" not in databases:
        return []
    try:
        mismatch = embedder_mismatch(connections["default"])
    except DatabaseError:
        return []  # an unreachable database is reported by what needs it first
    if mismatch is None:
        return []
    return [Warning(f"Long-term memory requests will answer 503: {mismatch}.",
                    hint="Run `manage.py reembed` to re-embed every memory with the configured embedder, or "
                         "configure the one that made them.",
                    id="mem0_compat.W001")]
