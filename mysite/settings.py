"""Settings for the chat project.

Everything a deployment may change is read from the environment here, and only
here. Each variable is listed in the README's configuration table.
"""

import ipaddress
import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no variable; anything unrecognised is a configuration error."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list, ignoring blanks around the commas."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None
    if number < 0:
        raise ImproperlyConfigured(f"{name} can't be negative; got {value!r}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ImproperlyConfigured(f"{name} must be 0 or more; got {value!r}")
    return number


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string, or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# Served over HTTPS: redirect plain HTTP, keep cookies off it, and ask browsers
# to remember (HSTS). Off by default so that `make run` works on plain HTTP.
HTTPS = env_bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
# Probes and Prometheus ask each process on its own port, in plain HTTP, past any proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Joining the browsers' preload list is a decision for the domain's owner, not a default.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a proxy that terminates TLS: trust its X-Forwarded-Proto to tell https from http.
# Only when the proxy sets that header on every request (deploy/ configs do).
if env_bool("DJANGO_BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Peers whose X-Forwarded-For names the client (chat/client_address.py): the proxies in deploy/,
# which run on the same machine and replace that header with the address they saw. Addresses or
# networks (10.0.0.0/24).
TRUSTED_PROXIES = env_list("DJANGO_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"DJANGO_TRUSTED_PROXIES must list IP addresses or networks; got {_proxy!r}"
        ) from None

INSTALLED_APPS = [
    # Daphne first, so that `runserver` is the ASGI server that speaks WebSockets.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "accounts",
    "chat",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A NUL character in the path, query or form is a 400 before any view passes it to the database.
    "chat.client_errors.refuse_nul_characters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Failed logins (the admin's, or any view using Django's authenticate) are counted per username
# and client address by django-axes, in the database, so every process sees the same count.
# After CHAT_LOGIN_FAILURE_LIMIT of them that username is refused from that address, the right
# password too, for CHAT_LOGIN_COOLOFF seconds: a 429 page, and no password hashed meanwhile.
CHAT_LOGIN_FAILURE_LIMIT = env_int("CHAT_LOGIN_FAILURE_LIMIT", 5)
CHAT_LOGIN_COOLOFF = env_float("CHAT_LOGIN_COOLOFF", 900.0)
if not CHAT_LOGIN_COOLOFF:
    raise ImproperlyConfigured("CHAT_LOGIN_COOLOFF must be above 0: the seconds a locked-out login waits.")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "chat:index"

AXES_ENABLED = CHAT_LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = CHAT_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(seconds=CHAT_LOGIN_COOLOFF)
# A successful login starts the count afresh.
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "chat.client_address.http_client_address"
AXES_LOCKOUT_TEMPLATE = "chat/locked_out.html"

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.person",
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

WSGI_APPLICATION = "mysite.wsgi.application"
ASGI_APPLICATION = "mysite.asgi.application"

# PostgreSQL connections one process may hold at once, and how long a request waits for one.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
DATABASE_POOL_TIMEOUT = env_float("DATABASE_POOL_TIMEOUT", 10.0)
if not DATABASE_POOL_TIMEOUT:
    raise ImproperlyConfigured("DATABASE_POOL_TIMEOUT must be above 0: a request waits that long for a connection.")
POSTGRESQL_ENGINES = {"django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"}

# Lower case, so that it is no setting: the URL may hold a password, and debug pages show settings.
_database_url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=600, conn_health_checks=True)}
except ValueError as exc:  # an unknown scheme, or not a URL at all
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL that dj-database-url can read: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several Daphne processes may write to one SQLite file: take the write lock
    # when a transaction starts (no upgrade deadlocks) and let readers run beside
    # the writer (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] in POSTGRESQL_ENGINES:
    # No persistent connections: Django keeps one per thread, and under ASGI every
    # request may run in a thread of its own, so CONN_MAX_AGE > 0 leaves a connection
    # behind per request until PostgreSQL refuses everyone ("too many clients").
    # Django and psycopg recommend a connection pool instead: psycopg's, shared by
    # the threads of one process, holding at most DATABASE_POOL_SIZE connections.
    # Django hands each connection back at the end of the request or database call.
    # A request that finds them all busy waits up to DATABASE_POOL_TIMEOUT seconds,
    # then fails with "couldn't get a connection" rather than hanging.
    # DATABASE_POOL_SIZE=0 opens and closes a connection per request instead (behind
    # a pooler such as PgBouncer, say).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if DATABASE_POOL_SIZE:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
            # psycopg retries a failed connection with a doubling delay, for 5 minutes by
            # default: after PostgreSQL was full or down for a while, the process would
            # wait about as long again. Giving up sooner lets the next request start
            # afresh, so the process is back within about this long of the server.
            "reconnect_timeout": DATABASE_POOL_TIMEOUT,
        }


# --8<-- [start:redis-servers]
def redis_server_list(urls: list[str], sentinels: list[str], masters: list[str]) -> list[dict]:
    """The Redis servers named by REDIS_URL, or by REDIS_SENTINELS and REDIS_SENTINEL_MASTER.

    Each is a host in channels-redis's form, without connection options: ``{"address": url}``,
    or ``{"sentinels": [(host, port), ...], "master_name": name}`` for a primary that Sentinel
    follows. Several servers are shards: channels-redis spreads Groups and channels over them,
    and this project's own keys follow the same rule (chat/redis_servers.py).
    """
    if urls and (sentinels or masters):
        raise ImproperlyConfigured(
            "Set either REDIS_URL or REDIS_SENTINELS with REDIS_SENTINEL_MASTER, not both: "
            "with Sentinel, Redis's address is whatever Sentinel says it is."
        )
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (read for its check: a port that is no number, or out of range, raises)
        except ValueError as exc:
            raise ImproperlyConfigured(f"REDIS_URL has a URL that can't be read ({exc}): {url!r}") from None
        networked = parts.scheme in {"redis", "rediss"} and parts.hostname
        if any(character.isspace() for character in url) or not (networked or (parts.scheme == "unix" and parts.path)):
            raise ImproperlyConfigured(
                f"REDIS_URL must be redis://host, rediss://host or unix:///path URLs, separated by commas; "
                f"got {url!r}. A comma inside a password is written %2C."
            )
    if len(set(urls)) < len(urls):
        raise ImproperlyConfigured("REDIS_URL names one server twice: each shard is a server of its own.")
    if bool(sentinels) != bool(masters):
        raise ImproperlyConfigured(
            "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: the Sentinels' host:port list, and the "
            "name of the primary they watch (as in sentinel.conf's `sentinel monitor <name> ...`)."
        )
    addresses = []
    for sentinel in sentinels:
        host, _, port = sentinel.rpartition(":")
        bare_ipv6 = ":" in host and not (host.startswith("[") and host.endswith("]"))
        if not host or bare_ipv6 or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(
                f"REDIS_SENTINELS must be host:port pairs, separated by commas; got {sentinel!r}"
            )
        addresses.append((host.strip("[]"), int(port)))
    if len(set(masters)) < len(masters):
        raise ImproperlyConfigured("REDIS_SENTINEL_MASTER names one primary twice: each shard is a primary of its own.")
    return [{"address": url} for url in urls] + [{"sentinels": addresses, "master_name": name} for name in masters]


REDIS_URL = os.environ.get("REDIS_URL", "").strip()
REDIS_SERVERS = redis_server_list(
    env_list("REDIS_URL", []), env_list("REDIS_SENTINELS", []), env_list("REDIS_SENTINEL_MASTER", [])
)
if REDIS_URL and not REDIS_SERVERS:
    raise ImproperlyConfigured(f"REDIS_URL names no server: {REDIS_URL!r}. Leave it unset for the in-memory layer.")
# How long a Redis command may wait for its server. Not for the layer's own connections: their
# blocking read waits for as long as a room is quiet. Sentinel is asked with this timeout too.
REDIS_COMMAND_TIMEOUT = 5


# --8<-- [end:redis-servers]
# --8<-- [start:channel-layers]
if REDIS_SERVERS:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis's layer, made to ride out Redis restarts and failovers (chat/layers.py).
            "BACKEND": "chat.layers.ResilientRedisChannelLayer",
            "CONFIG": {
                # Hosts as dicts, so the connection options reach redis-py. Its
                # default socket timeout (5 s in redis-py 8) would end the layer's
                # blocking read on a quiet room and with it the WebSocket.
                "hosts": [
                    server
                    | {"socket_timeout": None, "socket_connect_timeout": 5}
                    # TCP keepalive finds a server that vanished without closing; a Unix socket has none.
                    | ({} if server.get("address", "").startswith("unix:") else {"socket_keepalive": True})
                    | (
                        {"sentinel_kwargs": {"socket_timeout": REDIS_COMMAND_TIMEOUT, "socket_connect_timeout": 2}}
                        if "sentinels" in server
                        else {}
                    )
                    for server in REDIS_SERVERS
                ],
                # Messages waiting in Redis for one Daphne process (all its sockets
                # share one queue): the default 100 drops live messages as soon as a
                # busy room bursts. 1,000 holds a class of 200 sending five each.
                "capacity": 1000,
                # A message not picked up in 60 s is dropped; consumers then fetch it
                # from the database when the next one shows the gap.
                "expiry": 60,
            },
        }
    }
else:
    # One process only: messages never leave it. Fine for `make run` and tests.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}},
    }
# --8<-- [end:channel-layers]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the source folders too, so `daphne mysite.asgi:application`
# works with debug off before anyone has run collectstatic.
WHITENOISE_USE_FINDERS = True
# Until collectstatic has filled STATIC_ROOT the finders serve everything, so
# WhiteNoise's warning that the folder is missing says nothing useful.
warnings.filterwarnings("ignore", message="No directory at")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The chat's own knobs.
CHAT_HISTORY_LENGTH = env_int("CHAT_HISTORY_LENGTH", 50)
CHAT_MAX_MESSAGE_LENGTH = env_int("CHAT_MAX_MESSAGE_LENGTH", 2000)
CHAT_CATCH_UP_LIMIT = env_int("CHAT_CATCH_UP_LIMIT", 1000)
# Frames a socket may send: on average per second, and in one burst. 0 switches the limit off.
CHAT_RATE_LIMIT = env_float("CHAT_RATE_LIMIT", 5.0)
CHAT_RATE_BURST = env_int("CHAT_RATE_BURST", 10)
# Presence: a socket not seen for CHAT_PRESENCE_TTL seconds is gone; sockets say they are
# still there every CHAT_PRESENCE_HEARTBEAT seconds.
CHAT_PRESENCE_TTL = env_float("CHAT_PRESENCE_TTL", 30.0)
CHAT_PRESENCE_HEARTBEAT = env_float("CHAT_PRESENCE_HEARTBEAT", 10.0)
if not 0 < CHAT_PRESENCE_HEARTBEAT < CHAT_PRESENCE_TTL:
    raise ImproperlyConfigured("CHAT_PRESENCE_HEARTBEAT must be above 0 and below CHAT_PRESENCE_TTL.")
# The bearer token of the HTTP API (POST /api/rooms/<room>/messages); unset, only staff sessions may post.
CHAT_API_TOKEN = os.environ.get("CHAT_API_TOKEN", "").strip()
if CHAT_API_TOKEN and len(CHAT_API_TOKEN) < 20:
    raise ImproperlyConfigured("CHAT_API_TOKEN is too short to be a secret: use 20 or more random characters.")
# Open sockets per client address, per Daphne process: 25 signed-in people behind one address, each with a
# lobby and a room tab, and each tab's notification socket. 0 switches the limit off.
CHAT_MAX_CONNECTIONS_PER_IP = env_int("CHAT_MAX_CONNECTIONS_PER_IP", 100)
# Sockets a client address may open per Daphne process: on average per second, and at once (a class
# behind one address opening the room together; raise it with CHAT_MAX_CONNECTIONS_PER_IP). A catch-up longer than
# the history counts as one more for every CHAT_HISTORY_LENGTH messages. 0 switches the limit off.
CHAT_HANDSHAKE_RATE = env_float("CHAT_HANDSHAKE_RATE", 10.0)
CHAT_HANDSHAKE_BURST = env_int("CHAT_HANDSHAKE_BURST", 100)
# New rooms (a first message in a room nobody has spoken in) per client address and hour, per
# Daphne process. Opening a room stores nothing; its first message stores a row that stays.
# 0 switches the limit off.
CHAT_NEW_ROOMS_PER_IP = env_int("CHAT_NEW_ROOMS_PER_IP", 30)
# Accounts one client address may make within the hour, per Daphne process: each account brings
# its own allowances (private rooms, direct conversations, a name), so they must not come free.
# Behind a proxy, set DJANGO_TRUSTED_PROXIES so that the address is the client's. 0: no limit.
CHAT_SIGNUPS_PER_IP = env_int("CHAT_SIGNUPS_PER_IP", 10)
# New direct conversations an account may start within the hour, counted in the database (so across
# processes); opening one the two already have is free. 0 switches the limit off.
CHAT_DIRECT_ROOMS_PER_HOUR = env_int("CHAT_DIRECT_ROOMS_PER_HOUR", 30)
# Private rooms one account may own at once (each is a row that stays, with its members and
# invites); deleting one in the admin frees its place. 0 switches the limit off.
CHAT_PRIVATE_ROOMS_PER_USER = env_int("CHAT_PRIVATE_ROOMS_PER_USER", 50)
# An account keeps its newest CHAT_NOTIFICATIONS_KEPT notifications; older ones are deleted as new ones come.
CHAT_NOTIFICATIONS_KEPT = env_int("CHAT_NOTIFICATIONS_KEPT", 200)
if CHAT_NOTIFICATIONS_KEPT < 1:
    raise ImproperlyConfigured("CHAT_NOTIFICATIONS_KEPT must be at least 1: the notifications an account keeps.")
# Notifications one person's mentions and invitations may make a minute (0: no limit); the mentions
# themselves are still said, and the live toast still shows.
CHAT_NOTIFICATIONS_PER_SENDER = env_int("CHAT_NOTIFICATIONS_PER_SENDER", 30)
# Pages ping their socket every CHAT_CLIENT_HEARTBEAT seconds, and take it for dead (and reconnect)
# when a ping brings nothing back by the next one, or a new socket is not open within that time.
# So a silently dropped connection is noticed within two heartbeats. 0 switches the heartbeat off.
CHAT_CLIENT_HEARTBEAT = env_float("CHAT_CLIENT_HEARTBEAT", 20.0)
if 0 < CHAT_CLIENT_HEARTBEAT < 1:
    raise ImproperlyConfigured("CHAT_CLIENT_HEARTBEAT must be 0 (off) or at least 1 second.")
# The largest request body, in bytes, on any HTTP path: under Daphne a larger one is answered 413
# before it is read (chat/body_limit.py). Django's own form limit is the same number, so forms
# posted to gunicorn are held to it too. 0 switches both off.
CHAT_MAX_REQUEST_BODY = env_int("CHAT_MAX_REQUEST_BODY", 2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = CHAT_MAX_REQUEST_BODY or None

# Limits Daphne's own WebSocket protocol gets from chat/daphne_limits.py, for costs no consumer sees.
# A socket is dropped once more than CHAT_MAX_UNSENT_BYTES sent to it wait unread (beyond what it was
# sent at once), or once it sends ping, pong and continuation frames (the second and later pieces of a
# message) faster than CHAT_CONTROL_FRAME_RATE a second on average or CHAT_CONTROL_FRAME_BURST at once.
# CHAT_MAX_UNSENT_BYTES=0 or CHAT_CONTROL_FRAME_RATE=0 switches that limit off.
CHAT_MAX_UNSENT_BYTES = env_int("CHAT_MAX_UNSENT_BYTES", 256 * 1024)
CHAT_CONTROL_FRAME_RATE = env_float("CHAT_CONTROL_FRAME_RATE", 2.0)
CHAT_CONTROL_FRAME_BURST = env_int("CHAT_CONTROL_FRAME_BURST", 20)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors": {"()": "chat.client_errors.OneLineForClientErrors"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # What Django says about requests: a client's mistake (a 4xx) in one line, never a traceback.
        "requests": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_errors"]},
    },
    "loggers": {
        "chat": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Not propagated: Django's own handlers print only with debug on (and mail no one), and
        # Daphne's root handler would print each line a second time.
        "django.request": {"handlers": ["requests"], "level": "WARNING", "propagate": False},
        "django.security": {"handlers": ["requests"], "level": "WARNING", "propagate": False},
        # django-axes says "locking out" on every refused attempt, beside django.request's own line for
        # the 429: one line per guess is enough for a log a guesser fills.
        "axes": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
