"""Settings for the test suite: the production settings, with connections closed after each request so the
live servers' threads do not hold the test database open at teardown."""

import os

os.environ.setdefault("CONN_MAX_AGE", "0")

from config.settings import *  # noqa: E402,F403
