"""Django settings for the chat workspace. Every setting a deployment changes comes from the
environment (see README, "Configuration"); the defaults are safe for a laptop."""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from chatsite.env import (
    env_bool,
    env_float,
    env_int,
    env_json,
    env_list,
    env_str,
    load_dotenv,
)
from chatsite.private_files import private_directory, private_sqlite_database, read_or_create

BASE_DIR = Path(__file__).resolve().parent.parent
# The generated secret key and the SQLite database live here: its owner's only (0700).
VAR_DIR = private_directory(BASE_DIR / "var")
load_dotenv(BASE_DIR / ".env")


def _secret_key() -> str:
    """The configured key, or one generated once and kept in var/ so sessions survive restarts
    (owner-only from its creation; processes starting together agree on one)."""
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    return read_or_create(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50)).strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Behind TLS (a reverse proxy), set DJANGO_HTTPS=1: secure cookies, HSTS and redirects follow.
HTTPS = env_bool("DJANGO_HTTPS", False)

INSTALLED_APPS = [
    "conversations",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Dates shown in the browser's time zone (its cookie), the site's TIME_ZONE without one.
    "conversations.time_zone.TimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: a login that axes refused answers 429 (conversations/login_throttle.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conversations.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # SQLite: the server's long-lived threads (sends and the reply tasks' database work,
        # live streams: conversations/work_threads.py) keep their connection this many seconds
        # instead of opening one per request and per piece of work (a fifth of a send's
        # database time); every other request's thread closes its own at its end
        # (chatsite/asgi.py). PostgreSQL uses the pool instead (below).
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection is checked before its first use in each request (or reply end):
        # after a database restart it is replaced instead of failing once.
        conn_health_checks=True,
    )
}
# PostgreSQL: each worker process takes its connections from Django's built-in psycopg pool
# (a request, or a reply task's piece of database work, borrows one and gives it back at its
# end), holding at least DATABASE_POOL_MIN_SIZE and at most DATABASE_POOL_MAX_SIZE open. A
# piece of work that finds none free waits up to DATABASE_POOL_TIMEOUT seconds, then fails.
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 2)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 10)
DATABASE_POOL_TIMEOUT = env_float("DATABASE_POOL_TIMEOUT", 30.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them (Django refuses both)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_MIN_SIZE,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT,
        # Connections unused this long are closed, down to min_size.
        "max_idle": 300,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # concurrent writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a real file (WAL needs one), one per test process so parallel runs don't clash.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
    # Created owner-only here, before anything can open it: every process reads these settings
    # first, and SQLite would create it readable by all (its -wal and -shm files follow it).
    private_sqlite_database(str(DATABASES["default"]["NAME"]))
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "conversations.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Attachments (conversations/models/attachments.py): under var/ by default; any storage
    # backend (django-storages: S3 and the like) by setting, so several machines share them.
    "attachments": {
        "BACKEND": env_str(
            "ATTACHMENTS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": env_json("ATTACHMENTS_STORAGE_OPTIONS", {})
        or {"location": str(VAR_DIR / "attachments"), "base_url": None},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Security headers. The CSP allows only our own scripts and styles plus nonce-tagged inline
# ones; images only from ourselves or data: URLs, so model output cannot load anything remote.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    # blob: for the thumbnails of files about to be sent (object URLs made by the page itself).
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and not env_bool("DJANGO_SSL_REDIRECT_OFF", False)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- The upstream relay -------------------------------------------------------------------
RESPONSES_API_KEY = env_str("RESPONSES_API_KEY", "", "OPENAI_API_KEY")
RESPONSES_API_BASE_URL = env_str(
    "RESPONSES_API_BASE_URL", "https://api.elkapi.com/v1", "OPENAI_BASE_URL"
).rstrip("/")
RESPONSES_MODELS = env_list("RESPONSES_MODELS", "gpt-5.5")
# No key: the product's own fake upstream answers, and every page says replies are simulated.
DEMO_MODE = not RESPONSES_API_KEY
# Seconds: connecting, waiting for the first event, and the longest silence mid-reply.
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 10.0)
UPSTREAM_IDLE_TIMEOUT = env_float("UPSTREAM_IDLE_TIMEOUT", 300.0)
# Retries before the first token (5xx, 429, network): how many, and the most time spent waiting.
UPSTREAM_MAX_RETRIES = env_int("UPSTREAM_MAX_RETRIES", 2)
UPSTREAM_MAX_RETRY_WAIT = env_float("UPSTREAM_MAX_RETRY_WAIT", 20.0)
# Connections to the relay open at once, at most (each reply being written holds one): past
# it a reply waits for one to be free, up to 30 s.
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 500)
# Bytes the server holds for one piece of the relay's answer; past it the reply fails with the
# text received so far. An event's JSON comes on one line, and the last event of a reply
# carries the whole response object (a long reply's text, maybe escaped): be generous.
UPSTREAM_MAX_LINE_BYTES = env_int("UPSTREAM_MAX_LINE_BYTES", 4 * 1024 * 1024)
UPSTREAM_MAX_EVENT_BYTES = env_int("UPSTREAM_MAX_EVENT_BYTES", 8 * 1024 * 1024)
# A whole JSON answer (a relay that ignores "stream").
UPSTREAM_MAX_BODY_BYTES = env_int("UPSTREAM_MAX_BODY_BYTES", 8 * 1024 * 1024)
# Demo replies: milliseconds between simulated tokens.
DEMO_TOKEN_DELAY_MS = env_int("DEMO_TOKEN_DELAY_MS", 30)

# --- Chat behaviour -----------------------------------------------------------------------
MAX_MESSAGE_CHARS = env_int("MAX_MESSAGE_CHARS", 32000)
# Attachments (conversations/attachments): per file, per message, per person's storage, and the
# longest side images are downscaled to. The request body may hold every file of a message and
# the form (DATA_UPLOAD_MAX_MEMORY_SIZE counts the form without its files); uploads larger than
# FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to a temporary file instead of memory.
MAX_ATTACHMENT_MB = env_int("MAX_ATTACHMENT_MB", 20)
MAX_ATTACHMENTS_PER_MESSAGE = env_int("MAX_ATTACHMENTS_PER_MESSAGE", 10)
ATTACHMENT_STORAGE_PER_USER_MB = env_int("ATTACHMENT_STORAGE_PER_USER_MB", 1024)
ATTACHMENT_IMAGE_MAX_SIDE = env_int("ATTACHMENT_IMAGE_MAX_SIDE", 2048)
ATTACHMENT_TEXT_MAX_CHARS = env_int("ATTACHMENT_TEXT_MAX_CHARS", 200_000)
# Worker processes (per server process) that read and convert attached files, at a lower CPU
# priority than the server (conversations/attachments/converter.py); 0: in the request's thread.
ATTACHMENT_CONVERTER_PROCESSES = env_int("ATTACHMENT_CONVERTER_PROCESSES", 2)
# The time one file may take to read there; past it the file is refused with a sentence.
ATTACHMENT_CONVERT_SECONDS = env_int("ATTACHMENT_CONVERT_SECONDS", 60)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440 + MAX_MESSAGE_CHARS * 4
# More files than the limit still reach the send view, which refuses them with a sentence.
DATA_UPLOAD_MAX_NUMBER_FILES = max(100, MAX_ATTACHMENTS_PER_MESSAGE * 2)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The conversation settings' "Advanced" section (temperature, top p, max output tokens,
# reasoning effort and summary, truncation). Off: nobody sees or changes them; the defaults
# (or a conversation's existing values) apply.
SHOW_ADVANCED_SETTINGS = env_bool("SHOW_ADVANCED_SETTINGS", True)
# Seconds without new text before the page says the AI service is taking longer than usual
# (keepalives do not count). Given to the page in a data attribute of the composer.
REPLY_SLOW_NOTICE_SECONDS = env_float("REPLY_SLOW_NOTICE_SECONDS", 20.0)
# How often a generating reply's text is written to the database; how often a viewer gets a
# long block being written (over 2,000 characters, e.g. a long code block) rendered again
# (shorter ones come with every update; conversations/streaming_markdown.py).
REPLY_FLUSH_INTERVAL = env_float("REPLY_FLUSH_INTERVAL", 1.0)
REPLY_RENDER_INTERVAL = env_float("REPLY_RENDER_INTERVAL", 0.8)
# The live channel (conversations/live_channel.py): with REDIS_URL, replies reach viewers and
# Stop reaches replies across processes through Redis; the generating process publishes what
# its replies wrote every LIVE_PUBLISH_INTERVAL seconds, all replies in one round trip.
# Without it, one process keeps everything in memory. (REDIS_URL also sets the shared cache.)
REDIS_URL = env_str("REDIS_URL", "")
LIVE_PUBLISH_INTERVAL = env_float("LIVE_PUBLISH_INTERVAL", 0.05)
STREAM_KEEPALIVE_INTERVAL = env_float("STREAM_KEEPALIVE_INTERVAL", 15.0)
# How often an open stream looks again at its session and its user (seconds): a logout, an
# expired or flushed session, a changed password or a deactivated user ends it within about
# this plus a second (views/stream.py).
STREAM_SESSION_CHECK_INTERVAL = 3.0
# Streams one user may have open at once in a process; opening one more closes their oldest
# with a sentence (conversations/open_streams.py).
MAX_STREAMS_PER_USER = max(1, env_int("MAX_STREAMS_PER_USER", 6))
# After a reply's first token, the relay's stream is read at most this often (seconds): the
# tokens that arrived meanwhile are taken together. Viewers get updates every 0.15 s or more
# anyway, and a token costs the server far less in a batch than on its own.
RELAY_READ_INTERVAL = env_float("RELAY_READ_INTERVAL", 0.1)
# What all live viewers of a process together get at most, per second: messages, and renders
# of a long block being written (see REPLY_RENDER_INTERVAL). The budget is split equally
# between the users watching, then between each user's own streams
# (conversations/open_streams.py): with a few viewers each gets an update every 0.15 s and a
# long block every REPLY_RENDER_INTERVAL; with hundreds each waits its share (200 users with one
# stream each: a message every 0.25 s, a long block every 2 s), so the server's work per second
# stays bounded however many watch, and one person's many tabs slow only that person.
STREAM_MESSAGES_PER_SECOND = env_float("STREAM_MESSAGES_PER_SECOND", 800)
STREAM_RENDERS_PER_SECOND = env_float("STREAM_RENDERS_PER_SECOND", 100)
# A reply whose worker has been silent this long is taken as lost and marked interrupted: a
# generating reply's worker writes a heartbeat every quarter of it, and every process looks
# for silent replies every REPLY_SWEEP_INTERVAL seconds (conversations/stale_sweep.py), so the
# replies of a worker that was killed end within REPLY_STALE_AFTER + REPLY_SWEEP_INTERVAL.
REPLY_STALE_AFTER = env_float("REPLY_STALE_AFTER", 20.0)
REPLY_SWEEP_INTERVAL = env_float("REPLY_SWEEP_INTERVAL", 5.0)

# --- Serving (chatsite/asgi.py, chatsite/lifespan.py) ---------------------------------------
# Worker processes this copy of the site runs (`make run` passes it to uvicorn --workers).
# More than one needs REDIS_URL and PostgreSQL (a system check refuses otherwise).
WORKERS = max(1, env_int("WORKERS", 1))
# On SIGTERM a worker stops taking requests and lets its replies in progress finish for this
# many seconds; the ones still running then end as interrupted, with their text.
SHUTDOWN_GRACE_SECONDS = env_float("SHUTDOWN_GRACE_SECONDS", 120.0)
# How long a process keeps its copy of the model catalogue (the picker, a send's reservation).
MODEL_CATALOGUE_TTL = 10.0

# --- Logging in: one throttle for every login form (django-axes, conversations/login_throttle.py)
# Failed logins are counted in the database (shared by every worker process, listed in the
# admin) per (username, client address) and per client address. After LOGIN_FAILURE_LIMIT
# failures for one username from one address, that username is refused from that address (not
# from others); after LOGIN_ADDRESS_FAILURE_LIMIT failures from one address, whatever the
# usernames, that address is refused. A refusal lasts until LOGIN_FAILURE_WINDOW seconds pass
# without a try: each try meanwhile starts the wait again, so a guesser who keeps trying never
# gets another answer. The per-address limit is higher so that colleagues behind one office
# address can make the odd typo without refusing each other.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 50)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)
# The reverse proxies whose X-Forwarded-For names the client (addresses or networks, comma-
# separated). Only a connection from one of them has its client address taken from that header
# (chatsite/asgi.py, with uvicorn's own middleware); with none, the connection's address counts
# and the header is ignored. Behind a proxy that is not listed, every login shares its address.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
AUTHENTICATION_BACKENDS = [
    # Refuses a throttled password login before any password check (not the company sign-in).
    "conversations.login_throttle.PasswordLoginThrottle",
    # Passwords; with LOCAL_LOGIN=superusers only a superuser's (every login form).
    "conversations.company_sign_in.backends.LocalPasswordBackend",
    # The company's identity provider (only with OIDC_ISSUER; see "Company sign-in" below).
    "conversations.company_sign_in.backends.CompanyAccountBackend",
]
AXES_HANDLER = "conversations.login_throttle.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # the handler's two counts
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_RESET_ON_SUCCESS = True  # that username's failures from that address only (the handler)
AXES_LOCKOUT_CALLABLE = "conversations.login_throttle.lockout_response"
# The client address is the connection's (REMOTE_ADDR, already the proxy's client when the
# proxy is trusted, see TRUSTED_PROXIES), never a header a client could forge.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Kept: each failed login (username, address, browser, time; no password) for the admin's
# "Access failures", at most this many per username; `axes_reset_failure_logs --age DAYS`
# removes older ones. Not kept: successful logins (users' "last login" says when).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_ENABLE_ADMIN = False  # conversations/admin/logins.py registers the pages that have records
AXES_ACCESS_FAILURE_LOG_PER_USER_LIMIT = 1000
AXES_DISABLE_ACCESS_LOG = True

# --- Company sign-in: OpenID Connect (mozilla-django-oidc; conversations/company_sign_in/) ----
# Without OIDC_ISSUER none of it is active. The provider's endpoints come from its discovery
# document, fetched when first needed (never here) and cached (provider.py).
OIDC_ISSUER = env_str("OIDC_ISSUER", "").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_BUTTON_LABEL = env_str("OIDC_BUTTON_LABEL") or _("Sign in with your company account")
OIDC_RP_SCOPES = " ".join(env_str("OIDC_SCOPES", "openid email profile").replace(",", " ").split())
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUPS_PREFIX = env_str("OIDC_GROUPS_PREFIX")
OIDC_REVIEWER_GROUP = env_str("OIDC_REVIEWER_GROUP")
# everyone: the password form works for every local account; superusers: only for superusers.
LOCAL_LOGIN = env_str("LOCAL_LOGIN", "everyone").lower()
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0)  # seconds, each request to the provider
# A company sign-in's session ends after this many hours (then the provider is asked again), so
# a person the directory removes loses the site within them.
OIDC_SESSION_HOURS = env_float("OIDC_SESSION_HOURS", 12.0)
OIDC_RP_SIGN_ALGO = "RS256"  # verified against the provider's keys (its jwks_uri)
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # the hint that ends the provider's session at sign-out
OIDC_OP_LOGOUT_URL_METHOD = "conversations.company_sign_in.provider.logout_url"
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
if OIDC_ISSUER:
    # Sign-out is a form whose answer sends the browser on to the provider's end-session page.
    SECURE_CSP["form-action"] = [CSP.SELF, "{0.scheme}://{0.netloc}".format(urlsplit(OIDC_ISSUER))]

# Shared cache between worker processes: Redis when REDIS_URL is set.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }

# --- Usage limits (per user; quotas per month are set in the admin) --------------------------
MAX_CONCURRENT_REPLIES = env_int("MAX_CONCURRENT_REPLIES", 3)
MAX_SENDS_PER_MINUTE = env_int("MAX_SENDS_PER_MINUTE", 20)
# Output tokens held against a quota while a reply generates, when the conversation sets no
# max_output_tokens; under a limit, the request's max_output_tokens is capped at what is held.
QUOTA_RESERVE_OUTPUT_TOKENS = env_int("QUOTA_RESERVE_OUTPUT_TOKENS", 16384)
# Below this much room for output, a send is refused as over quota.
QUOTA_MIN_OUTPUT_TOKENS = env_int("QUOTA_MIN_OUTPUT_TOKENS", 256)

# --- Retention (purge_conversations) ---------------------------------------------------------
# Days after their last activity that conversations are kept; 0 or unset keeps them forever.
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 0) or None
# A conversation its owner deletes stays for reviewers until the purge (off: removed at once).
KEEP_DELETED_CONVERSATIONS = env_bool("KEEP_DELETED_CONVERSATIONS", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "conversations": {"level": env_str("LOG_LEVEL", "INFO")},
        "django.request": {"level": "ERROR"},
    },
}
