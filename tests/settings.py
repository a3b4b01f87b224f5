"""Settings for the in-process tests (unit tests and pytest-django's database).

The project's settings, with a fixed secret and the in-memory channel layer
whatever the shell says. Tests that need Redis or Daphne start their own
servers, and pass those their environment explicitly.
"""

import os

os.environ["DJANGO_SECRET_KEY"] = "tests-only-secret-key"
os.environ.pop("REDIS_URL", None)

from mysite.settings import *  # noqa: E402, F403
