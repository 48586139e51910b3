#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.embedded import stop_those_started_here

    try:
        execute_from_command_line(sys.argv)
    finally:  # a command run while `make run` is not running leaves no PostgreSQL or Redis behind
        stop_those_started_here()
