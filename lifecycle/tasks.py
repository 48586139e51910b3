"""Celery tasks of the lifecycle: the periodic sweep (beat), count-trigger checks once a threshold is reached,
and the execution of one strategy. Every task is idempotent: the rows in PostgreSQL say what is left to do."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from config.time_limits import stopped_by_time_limit
from lifecycle import services
from lifecycle.models import StrategyExecution

logger = logging.getLogger(__name__)
DEFER_SECONDS = 5  # a deferred execution looks again after this long


def publish(task, *args) -> bool:
    """Send a task; with the broker down, log and go on (the sweep re-publishes what is still pending)."""
    try:
        task.delay(*args)
        return True
    except Exception:
        logger.warning("could not publish %s%s; the next sweep will", task.name, args, exc_info=True)
        return False


def publish_executions(execution_ids) -> None:
    ids = [str(execution_id) for execution_id in execution_ids]
    transaction.on_commit(lambda: [publish(run_execution, execution_id) for execution_id in ids])


@shared_task
def sweep() -> dict:
    report = services.sweep()
    publish_executions([*report.fired, *report.republished])
    summary = report.summary()
    if any(summary.values()):
        logger.info("lifecycle sweep: %s", summary)
    return summary


@shared_task
def check_count_triggers(session_id: str) -> int:
    fired = services.fire_count_triggers(session_id=session_id)
    publish_executions(fired)
    return len(fired)


@shared_task(bind=True, max_retries=None)
def run_execution(self, execution_id: str) -> str:
    execution = services.execution_claim(execution_id=execution_id)
    if execution is None:
        return "not claimed"  # finished, or being run by another worker
    try:
        result = services.execution_perform(execution)
    except services.ExecutionDeferred as exc:
        services.execution_defer(execution, reason=str(exc))
        raise self.retry(countdown=DEFER_SECONDS) from None
    except services.ExecutionRearmed as exc:
        services.execution_rearm(execution, due_at=exc.due_at)
        return "re-armed"
    except Exception as exc:
        return _failed(self, execution, exc)
    services.execution_finish(execution, status=StrategyExecution.Status.SUCCEEDED, result=result)
    return "succeeded"


def _failed(task, execution: StrategyExecution, exc: Exception) -> str:
    """Retried with backoff, counting the attempt, up to LIFECYCLE_MAX_RETRIES; then failed (at once when the
    engine refused the work: it would refuse it again). An attempt that the time limit stopped after it had
    recorded progress (an extraction's chunks) is not counted: the next resumes after them, so a long session
    is extracted over as many attempts as it takes."""
    if error := stopped_by_time_limit(exc):
        if services.execution_progressed(execution):
            services.execution_defer(execution, reason=error)
            raise task.retry(countdown=DEFER_SECONDS)
    elif isinstance(exc, services.ExecutionRefused):
        services.execution_finish(execution, status=StrategyExecution.Status.FAILED, error=str(exc))
        return "failed"
    elif isinstance(exc, services.ExecutionFailed):
        error = str(exc)
    else:  # a bug or a lost database: still retried, and visible as failed in the end
        logger.exception("lifecycle execution %s failed", execution.pk)
        error = f"{type(exc).__name__}: {exc}"
    if execution.attempts <= settings.LIFECYCLE_MAX_RETRIES:
        services.execution_finish(execution, status=StrategyExecution.Status.PENDING, error=error)
        raise task.retry(countdown=min(2 ** execution.attempts, 300))  # backoff: 2, 4, 8, … seconds
    services.execution_finish(execution, status=StrategyExecution.Status.FAILED, error=error)
    return "failed"
