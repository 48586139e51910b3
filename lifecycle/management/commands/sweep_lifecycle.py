from config.commands import DatabaseCommand
from lifecycle import services
from lifecycle.tasks import publish_executions


class Command(DatabaseCommand):
    help = ("Run one lifecycle sweep now: fire due ttl/idle strategies and missed count triggers, and queue "
            "their executions (and re-queue ones whose message was lost).")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report what would fire; change nothing")

    def handle(self, *args, dry_run, **options):
        report = services.sweep(dry_run=dry_run)
        if not dry_run:
            publish_executions([*report.fired, *report.republished])
        summary = ", ".join(f"{key} {value}" for key, value in report.summary().items())
        self.stdout.write(f"{'Dry run: would have' if dry_run else 'Sweep:'} {summary}.")
