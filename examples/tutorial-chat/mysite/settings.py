"""Settings of the tutorial's chat: what `django-admin startproject` writes, plus Daphne and Channels."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# An example for running on your own machine only: never deploy with this key or with DEBUG on.
SECRET_KEY = "django-insecure-tutorial-chat-example"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    # Daphne first: its `runserver` then serves WebSockets as well as HTTP.
    "daphne",
    "chat",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Daphne serves this application: HTTP goes to Django, WebSockets to the chat's consumer.
ASGI_APPLICATION = "mysite.asgi.application"

# Every Daphne process reaches every other one through this Redis server, so people connected
# to different processes still share a room.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [("127.0.0.1", 6379)]},
    },
}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}
# Tests on SQLite get an in-memory database by default, which only the test process itself can
# open. The Daphne processes the tests start need to open it too, so it is kept in a file.
DATABASES["default"]["TEST"] = {"NAME": BASE_DIR / "test-db.sqlite3"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
