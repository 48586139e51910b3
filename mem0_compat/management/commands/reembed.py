from contextlib import nullcontext

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from tqdm import tqdm

from config.commands import DatabaseCommand
from mem0_compat.embeddings import EmbedderUnavailable, get_embedder
from mem0_compat.models import Memory
from mem0_compat.services import memory_embeddings_write
from mem0_compat.vector_column import (
    column_dimensions,
    column_embedder,
    embedder_mismatch,
    record_embedder,
    record_reembedding,
    reembed_lock,
    set_dimensions,
)


class Command(DatabaseCommand):
    help = ("Re-embed every memory with the configured embedder (after changing EMBEDDER), resizing the "
            "embedding column to EMBEDDING_DIMENSIONS first when it differs. Memory requests answer 503 until "
            "it has finished: the column names the embedder of its vectors only once they all are its own (until "
            "then, and after an interrupted run, it says which embedder a re-embedding was going to).")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
        parser.add_argument("--if-changed", action="store_true",
                            help="do nothing when the stored vectors are already the configured embedder's")

    def handle(self, *args, batch_size, dry_run, if_changed, **options):
        if batch_size < 1:  # else no batch is read, and the embedder is recorded for vectors it never made
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}")
        # One run at a time (a second waits, then with --if-changed finds nothing left to do); a dry run changes
        # nothing and waits for none.
        with nullcontext() if dry_run else reembed_lock(waiting=lambda: self.stdout.write(
                "Another `manage.py reembed` is running on this database: waiting for it to finish.")):
            self._run(batch_size=batch_size, dry_run=dry_run, if_changed=if_changed)

    def _run(self, *, batch_size, dry_run, if_changed):
        if if_changed and embedder_mismatch() is None:
            self.stdout.write(f"The stored vectors are already {settings.EMBEDDER}'s: nothing to do.")
            return
        try:
            embedder = get_embedder()
        except ImproperlyConfigured as exc:  # before anything changes: the operator fixes the setting
            raise CommandError(str(exc)) from None
        current, wanted = column_dimensions(), settings.EMBEDDING_DIMENSIONS
        total = Memory.objects.count()
        if dry_run:
            self.stdout.write(f"Dry run: would re-embed {total} memories with {settings.EMBEDDER} "
                              f"(column vector({current}) -> vector({wanted}); stored vectors made by "
                              f"{column_embedder() or 'an unrecorded embedder'}).")
            return
        # Memory requests answer 503 from now until record_embedder. It waits for the writes of vectors in
        # flight to commit, and every later one reads it in its own transaction and writes nothing: no memory
        # is added or changed behind the page cursor.
        record_reembedding(settings.EMBEDDER)
        set_dimensions(wanted)  # also rebuilds the HNSW index
        done = 0
        with tqdm(total=total, unit=" memories", disable=not self.stdout.isatty()) as bar:
            last_pk = None
            while True:
                page = Memory.objects.order_by("pk").only("pk", "memory")
                batch = list((page.filter(pk__gt=last_pk) if last_pk else page)[:batch_size])
                if not batch:
                    break
                try:
                    vectors = embedder.embed([m.memory for m in batch])
                except EmbedderUnavailable as exc:  # the column still says a re-embedding is under way
                    raise CommandError(f"{exc}: stopped after {done} of {total} memories; memory requests "
                                       f"answer 503 until a run finishes: run it again") from None
                memory_embeddings_write(memories=batch, vectors=vectors)
                done += len(batch)
                last_pk = batch[-1].pk
                bar.update(len(batch))
        record_embedder(settings.EMBEDDER)
        self.stdout.write(f"Re-embedded {done} memories with {settings.EMBEDDER} into vector({wanted}).")
