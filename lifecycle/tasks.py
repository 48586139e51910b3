"""Celery tasks of the lifecycle: the periodic sweep (beat), count-trigger checks once a threshold is reached,
the execution of one strategy, and the late record of an execution's end that the database, gone a while, did
not take. Every task is idempotent: the rows in PostgreSQL say what is left to do."""

import logging
from collections.abc import Callable
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction

from config.api.errors import database_fault, database_unavailable
from config.time_limits import LEFT_RUNNING, recorded, recorded_later, stopped_by_time_limit
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
        return _retried(self, execution, "defer", countdown=DEFER_SECONDS, reason=str(exc))
    except services.ExecutionRearmed as exc:
        return _recorded(execution, "re-armed", "rearm", due_at=exc.due_at)
    except Exception as exc:
        return _failed(self, execution, exc)
    return _finished(execution, StrategyExecution.Status.SUCCEEDED, result=result)


def _failed(task, execution: StrategyExecution, exc: Exception) -> str:
    """Retried with backoff, counting the attempt, up to LIFECYCLE_MAX_RETRIES; then failed. Failed at once
    when the engine refused the work, or the database its data (`database_fault`'s 422s, class 22/54): either
    would refuse it again. An attempt that the time limit stopped after it had recorded progress (an
    extraction's chunks) is not counted (nor one whose progress the database, gone, could not tell:
    `_progressed`): the next resumes after them, so a long session is extracted over as many attempts as it
    takes. The database unavailable (its 503s) is retried as a provider outage is; with it still gone, none
    of this can be recorded now: the execution is left running until it is recorded later (`_recorded`)."""
    fault = database_fault(exc)
    if error := stopped_by_time_limit(exc):
        if _progressed(execution):
            return _retried(task, execution, "defer", countdown=DEFER_SECONDS, reason=error)
    elif isinstance(exc, services.ExecutionRefused):
        return _finished(execution, StrategyExecution.Status.FAILED, error=str(exc))
    elif isinstance(exc, services.ExecutionFailed):
        error = str(exc)
    elif fault:  # the work's data, refused again on a retry (a 422); else the database unavailable: it passes
        logger.warning("lifecycle execution %s: %s", execution.pk, exc)
        error = f"{fault.message}: {exc}"
        if fault.status == 422:
            return _finished(execution, StrategyExecution.Status.FAILED, error=error)
    else:  # a bug: still retried, and visible as failed in the end
        logger.exception("lifecycle execution %s failed", execution.pk)
        error = f"{type(exc).__name__}: {exc}"
    if execution.attempts <= settings.LIFECYCLE_MAX_RETRIES:
        return _retried(task, execution, "finish", status=StrategyExecution.Status.PENDING, error=error,
                        countdown=min(2 ** execution.attempts, 300))  # backoff: 2, 4, 8, … seconds
    return _finished(execution, StrategyExecution.Status.FAILED, error=error)


def _progressed(execution: StrategyExecution) -> bool:
    """`execution_progressed`; with the database gone, taken as progressed: the attempt is then not counted,
    as one attempt more costs less than an extraction failed while it was getting on (and the database
    still gone, nothing can be recorded: `_recorded` leaves the execution running)."""
    try:
        return services.execution_progressed(execution)
    except DatabaseError as exc:
        if not database_unavailable(exc):
            raise
        return True


def _finished(execution: StrategyExecution, status: str, **fields) -> str:
    return _recorded(execution, status, "finish", status=status, **fields)


def _retried(task, execution: StrategyExecution, end: str, *, countdown: int, **fields) -> str:
    """`end` (`_recorded`) records the execution as pending, then it runs again in `countdown` seconds (with
    the broker down, the sweep publishes it again later)."""
    if _recorded(execution, "pending", end, run_again=True, **fields) == LEFT_RUNNING:
        return LEFT_RUNNING
    raise task.retry(countdown=countdown)


def _recorded(execution: StrategyExecution, outcome: str, end: str, *, run_again: bool = False, **fields) -> str:
    """`outcome`, once the attempt's end is recorded (`recorded`): services.execution_<end> with `fields`.
    LEFT_RUNNING when the database is gone: the execution stays running until `record_execution_end` records
    the end later (publishing the execution again when `run_again`), or else the stale takeover."""
    claim = {"pk": str(execution.pk), "strategy_id": execution.strategy_id, "started_at": execution.started_at}
    later = record_execution_end.s(claim, end, fields, run_again)
    return outcome if recorded(_end(execution, end, fields), what=f"lifecycle execution {execution.pk}",
                               later=later) else LEFT_RUNNING


@shared_task(bind=True)
def record_execution_end(self, claim: dict, end: str, fields: dict, run_again: bool) -> str:
    """`_recorded`'s record of an attempt's end, which the database, gone then, did not take: written while the
    execution is still as the attempt's claim left it (`claim`: what the ends read of the claimed execution),
    then, when `run_again`, the execution published again. Retried while the database is still gone
    (`recorded_later`)."""
    execution_id = claim["pk"]
    if not recorded_later(self, _end(StrategyExecution(**claim), end, fields),
                          what=f"lifecycle execution {execution_id}"):
        return "not recorded"
    if run_again:
        publish(run_execution, execution_id)
    return f"{end} recorded"


def _end(execution: StrategyExecution, end: str, fields: dict) -> Callable[[], bool]:
    """The write recording the attempt's end: "finish", "defer" or "rearm" (services.execution_<end>)."""
    write = {"finish": services.execution_finish, "defer": services.execution_defer,
             "rearm": services.execution_rearm}[end]
    return partial(write, execution, **fields)
