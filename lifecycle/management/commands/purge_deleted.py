from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from tqdm import tqdm

from config.commands import DatabaseCommand
from lifecycle.purge import purge, purge_preview

MAX_DAYS = 100 * 366


class Command(DatabaseCommand):
    help = ("Hard-delete rows soft-deleted more than DAYS ago, and what hangs under them, in batches. "
            "Without --spaces/--sessions/--memories, all three.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, required=True, metavar="DAYS")
        parser.add_argument("--spaces", action="store_true", help="deleted spaces, with everything in them")
        parser.add_argument("--sessions", action="store_true", help="deleted sessions (with events) and events")
        parser.add_argument("--memories", action="store_true", help="deleted memories (their history stays)")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")

    def handle(self, *args, older_than, spaces, sessions, memories, batch_size, dry_run, **options):
        if not 0 <= older_than <= MAX_DAYS:  # also false for nan; timedelta and the cutoff overflow on huge ones
            raise CommandError(f"--older-than must be a number of days from 0 to {MAX_DAYS}, not {older_than}")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if not (spaces or sessions or memories):
            spaces = sessions = memories = True
        cutoff = timezone.now() - timedelta(days=older_than)
        kinds = {"spaces": spaces, "sessions": sessions, "memories": memories}
        if dry_run:
            counts = purge_preview(cutoff=cutoff, **kinds)
            self.stdout.write("Dry run: would purge " + _join(counts) + f" (deleted before {cutoff:%Y-%m-%d %H:%M}).")
            return
        with tqdm(desc="purging", unit=" rows", disable=not self.stdout.isatty()) as bar:
            report = purge(cutoff=cutoff, batch_size=batch_size, progress=bar.update, **kinds)
        self.stdout.write(f"Purged {_join(report.counts)} (deleted before {cutoff:%Y-%m-%d %H:%M}).")


def _join(counts: dict) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in counts.items() if count) or "nothing"
