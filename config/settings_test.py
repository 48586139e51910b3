"""Settings for the test suite: the production settings, with connections closed after each request so the
live servers' threads do not hold the test database open at teardown."""

import os

os.environ.setdefault("CONN_MAX_AGE", "0")
# Tasks published by this test run (and by the worker it starts, which inherits the environment) go to a
# queue of its own, so a worker of `make run` sharing the embedded Redis never takes them, and vice versa.
os.environ.setdefault("CELERY_QUEUE", f"tests-{os.getpid()}")

from config.settings import *  # noqa: E402,F403

# One test database per test process, so two runs against the same server (two terminals, a helper, CI)
# never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405