"""Settings for the test suite: the production settings, with connections closed after each request so the
live servers' threads do not hold the test database open at teardown."""

import os

os.environ.setdefault("CONN_MAX_AGE", "0")
# Tasks published by this test run (and by the worker it starts, which inherits the environment) go to a
# queue of its own, so a worker of `make run` sharing the embedded Redis never takes them, and vice versa.
os.environ.setdefault("CELERY_QUEUE", f"tests-{os.getpid()}")
# The fake LLMs of the tests (tests/fakes) serve on loopback, which spaces may not name by default; the workers
# the tests start inherit it. The tests of that default set LLM_ALLOWED_HOSTS back to none.
os.environ.setdefault("LLM_ALLOWED_HOSTS", "127.0.0.0/8,::1,localhost")

from config.settings import *  # noqa: E402,F403

# One test database per test process, so two runs against the same server (two terminals, a helper, CI)
# never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405