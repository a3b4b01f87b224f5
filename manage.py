#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    # A command runs one thing at a time and needs no connection pool; without one, a database
    # that can't be reached says why at once instead of after the pool's timeout.
    os.environ.setdefault("DATABASE_POOL_SIZE", "0")
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
        from django.db import OperationalError, ProgrammingError
    except ImportError:
        sys.exit(
            f"Django is not installed for {sys.executable}. Run manage.py in the project's virtualenv: "
            "`make setup`, then `.venv/bin/python manage.py ...` (or `source .venv/bin/activate` first)."
        )
    # Settings come from the environment (mysite/settings.py); a missing or bad variable is
    # one line saying what to set, not a traceback (unless --traceback asks for one).
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        if "--traceback" in sys.argv:
            raise
        sys.exit(
            f"manage.py: {one_line(exc)} Settings come from the environment: see the README's configuration table."
        )
    except (OperationalError, ProgrammingError) as exc:
        if "--traceback" in sys.argv:
            raise
        if "no such table" in str(exc) or "does not exist" in str(exc):
            sys.exit(f"manage.py: the database has no tables yet: {one_line(exc)} Run `manage.py migrate` first.")
        if isinstance(exc, ProgrammingError):
            raise
        sys.exit(f"manage.py: the database could not be reached: {one_line(exc)} Check DATABASE_URL.")


def one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if text.endswith(".") else f"{text}."


if __name__ == "__main__":
    main()
