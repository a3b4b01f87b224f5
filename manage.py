#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
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
        cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        because = f" ({type(cause).__name__}: {cause})" if cause else ""
        line = " ".join(f"{exc}{because}".split())
        sys.exit(f"manage.py: {line} Settings come from the environment: see the README's configuration table.")


if __name__ == "__main__":
    main()
