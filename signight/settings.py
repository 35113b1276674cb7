"""Django settings for Signight: every value comes from the environment, read once here.

A malformed or missing variable stops start-up with one line naming it (see signight.config).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from signight import __version__, logs
from signight import redis as signight_redis
from signight.config import ConfigError, Env

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -----------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The version this process reports (a `version` label on every metric): the Deployment sets it
# from its pods' `version` label, so a canary's metrics can be told from stable's (issue 16).
SIGNIGHT_VERSION = env.str("SIGNIGHT_VERSION", default=__version__)
if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-dev-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 32:
        raise ConfigError("DJANGO_SECRET_KEY must be at least 32 characters in production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default="*" if DEBUG else "localhost,127.0.0.1")
LOG_LEVEL = env.choice(
    "LOG_LEVEL", default="info", choices=("debug", "info", "warning", "error", "critical")
)

# --- Serving (python manage.py serve) -------------------------------------------------------
SERVER_HOST = env.str("SERVER_HOST", default="0.0.0.0")
SERVER_PORT = env.port("SERVER_PORT", default="8080")
HTTP_PORT = env.port("HTTP_PORT", default="3001")
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default="1", min=1, max=64)
WS_PER_MESSAGE_DEFLATE = env.bool("WS_PER_MESSAGE_DEFLATE", default=False)

# --- Backing services -----------------------------------------------------------------------
REDIS_URL = env.url("REDIS_URL", default="redis://redis:6379", schemes=("redis", "rediss", "unix"))
# Redis Sentinel (high availability): when set, the master named REDIS_SENTINEL_MASTER that these
# sentinels elect is used instead of REDIS_URL's host (whose database number still applies).
REDIS_SENTINELS = env.addresses("REDIS_SENTINELS", default="")
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="mymaster")
MONGODB_URL = env.url(
    "MONGODB_URL", default="mongodb://mongo:27017", schemes=("mongodb", "mongodb+srv")
)
MONGODB_DB_NAME = env.str("MONGODB_DB_NAME", default="signight_websocket")
# Every MongoDB operation's deadline (pymongo's timeoutMS): a hung database is an error, not a wait.
MONGODB_TIMEOUT_MS = env.int("MONGODB_TIMEOUT_MS", default="5000", min=100)
# Chats waiting to be stored, per process; beyond it a Chat gets chat_unavailable at once.
CHAT_WRITE_QUEUE_LIMIT = env.int("CHAT_WRITE_QUEUE_LIMIT", default="1000", min=1)

# --- Game socket ----------------------------------------------------------------------------
TICK_RATE = env.int("TICK_RATE", default="20", min=1, max=120)
# A node (server process) whose heartbeat is older than this is presumed dead and reaped.
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", default="10", min=3, max=300)
# A player whose socket ends without a Leave (a drop, a drain, a crash) stays in its room, away,
# this long: a Resume on any process within it brings it back having missed nothing (issue 13).
RESUME_GRACE_SECONDS = env.int("RESUME_GRACE_SECONDS", default="20", min=1, max=3600)
RESUME_HISTORY = env.int("RESUME_HISTORY", default="500", min=10, max=100_000)  # events per room
# Every this many seconds a StateUpdate carries every present player (a lost batch heals).
KEYFRAME_SECONDS = env.float("KEYFRAME_SECONDS", default="2", min=0.1, max=600)
# A Redis outage longer than this closes this process's sockets with 1013 (shorter ones do not).
BACKEND_OUTAGE_CLOSE_SECONDS = env.int("BACKEND_OUTAGE_CLOSE_SECONDS", default="30", min=1)

# --- Abuse limits (docs/security.md) --------------------------------------------------------
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default="16384", min=256, max=16 * 2**20)
WS_MAX_JSON_DEPTH = env.int("WS_MAX_JSON_DEPTH", default="8", min=2, max=64)
WS_UPDATE_RATE = env.int("WS_UPDATE_RATE", default="60", min=1)
WS_CHAT_RATE = env.int("WS_CHAT_RATE", default="5", min=1)
WS_CHAT_PERIOD = env.float("WS_CHAT_PERIOD", default="10", min=0.1)
WS_CHAT_BURST = env.int("WS_CHAT_BURST", default="3", min=1)
WS_JOIN_RATE = env.float("WS_JOIN_RATE", default="2", min=0.1)  # Joins and Leaves per second
WS_JOIN_BURST = env.int("WS_JOIN_BURST", default="5", min=1)
# Distinct rooms one socket may join in a minute (a Join of a room it was in lately is free).
WS_ROOMS_PER_MINUTE = env.int("WS_ROOMS_PER_MINUTE", default="10", min=1)
# A Join of a room with no record creates it; off: only rooms made in the admin can be joined.
ROOM_AUTO_CREATE = env.bool("ROOM_AUTO_CREATE", default=True)
WS_FLOOD_CLOSE_SECONDS = env.float("WS_FLOOD_CLOSE_SECONDS", default="10", min=1)
WS_SEND_QUEUE_LIMIT = env.int("WS_SEND_QUEUE_LIMIT", default="256", min=1)  # frames per client
WS_IDLE_TIMEOUT = env.float("WS_IDLE_TIMEOUT", default="60", min=1)
WS_MAX_CONNECTIONS_PER_IP = env.int("WS_MAX_CONNECTIONS_PER_IP", default="50", min=0)
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default="0", min=0, max=10)
ALLOWED_ORIGINS = env.list("ALLOWED_ORIGINS", default="*" if DEBUG else "")
SHUTDOWN_DRAIN_SECONDS = env.float("SHUTDOWN_DRAIN_SECONDS", default="5", min=0, max=300)

# --- Auth (JWT) -----------------------------------------------------------------------------
WS_AUTH_REQUIRED = env.bool("WS_AUTH_REQUIRED", default=not DEBUG)
JWT_SECRET = env.str("JWT_SECRET", default="insecure-dev-jwt-secret" if DEBUG else "")
JWT_ISSUER = env.str("JWT_ISSUER", default="https://auth.signite.com")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="") or None
JWT_PUBLIC_KEY = env.str("JWT_PUBLIC_KEY", default="") or None
# /api/token/ and its refresh mint HS256 tokens for Django users; off where the mesh's issuer
# signs them (and always with JWT_PUBLIC_KEY: an RS256 server holds no private key).
JWT_ISSUE_TOKENS = env.bool("JWT_ISSUE_TOKENS", default=not JWT_PUBLIC_KEY) and not JWT_PUBLIC_KEY
# Who may read a room's /chat/history: `member` (in the room now or within the last hour, or a
# moderator), `authenticated` (any valid token) or `public` (a token only where WS_AUTH_REQUIRED).
CHAT_HISTORY_ACCESS = env.choice(
    "CHAT_HISTORY_ACCESS",
    default="public" if DEBUG else "member",
    choices=("member", "authenticated", "public"),
)
# Who may list the active rooms (GET /rooms): `authenticated` (a valid token) or `public`.
ROOMS_LIST_ACCESS = env.choice(
    "ROOMS_LIST_ACCESS",
    default="public" if DEBUG else "authenticated",
    choices=("authenticated", "public"),
)
if not JWT_PUBLIC_KEY and not JWT_SECRET:
    raise ConfigError("JWT_SECRET is required in production (or JWT_PUBLIC_KEY for RS256)")
if not JWT_PUBLIC_KEY and not DEBUG and len(JWT_SECRET.encode()) < 32:
    raise ConfigError("JWT_SECRET must be at least 32 bytes in production (HS256 key strength)")
LOG_FORMAT = env.choice("LOG_FORMAT", default="text" if DEBUG else "json", choices=("json", "text"))

# --- Django ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",  # only for `manage.py runserver`; production serves with uvicorn (manage.py serve)
    "signight.apps.MongoAdminConfig",
    "signight.apps.MongoAuthConfig",
    "signight.apps.MongoContentTypesConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by whitenoise: /api/docs/ works offline
    "channels",
    "signight.apps.MongoAxesConfig",  # the login throttle (django-axes)
    "signight.apps.SignightConfig",
    "rooms",
    "chat",
    "moderation",
    "play",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out admin login into the 429 page
]

ROOT_URLCONF = "signight.urls"
ASGI_APPLICATION = "signight.asgi.application"
APPEND_SLASH = False

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

DATABASES = {
    "default": {
        "ENGINE": "django_mongodb_backend",
        "HOST": MONGODB_URL,
        "NAME": MONGODB_DB_NAME,
        "OPTIONS": {
            "serverSelectionTimeoutMS": 5000,
            "connectTimeoutMS": 5000,
            "timeoutMS": MONGODB_TIMEOUT_MS,
        },
    },
}
DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
# Django's own apps need migrations that use ObjectIdAutoField (django-mongodb-backend docs).
MIGRATION_MODULES = {
    "admin": "signight.mongo_migrations.admin",
    "auth": "signight.mongo_migrations.auth",
    "contenttypes": "signight.mongo_migrations.contenttypes",
    "axes": "signight.mongo_migrations.axes",
}

# Redis pub/sub: a send or group_send is one PUBLISH, and what arrives is pushed to the process
# over its subscribed connection. The list-based RedisChannelLayer costs ~4 serial round trips per
# receive (EVAL, BZPOPMIN, ZADD, ZPOPMIN) and 4 per send: on a busy event loop that capped a
# process at a few dozen cross-process messages a second (bench, 60x10: chats seconds late).
# Pub/sub keeps publish order for every subscriber, and delivers at most once (nothing is
# queued for a process that is not connected; rooms.hub reaps dead processes' players).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "signight.channel_layer.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [signight_redis.layer_host(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)],
        },
    },
}

# The login throttle first: a locked-out username or address is refused before any password is
# hashed; then model permissions without a join (signight.permissions: SecantusDB answers that
# join wrongly).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "signight.permissions.PermissionBackend",
]

# Login throttle (issue 15; docs/security.md): /api/token/ and the admin login, per username and
# per address independently, 10 failures within 15 minutes lock out for 15 minutes from the
# latest failure (429, Retry-After). Failure counts live in Redis, never in MongoDB.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "logins"
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False  # a right password does not wipe a guesser's count
AXES_CLIENT_IP_CALLABLE = "signight.logins.client_ip"
AXES_LOCKOUT_CALLABLE = "signight.logins.lockout_response"
AXES_VERBOSE = False
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "logins": {"BACKEND": "signight.cache.SignightRedisCache", "KEY_PREFIX": "sn:logins"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["signight.auth.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "signight.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# GET /api/schema/ and /api/docs/ (signight/openapi.py holds what the views cannot say).
SPECTACULAR_SETTINGS = {
    "TITLE": "Signight HTTP API",
    "DESCRIPTION": "Rooms, chat history, tokens and probes. The socket protocol: docs/protocol.md.",
    "VERSION": __version__,
    "COMPONENT_SPLIT_REQUEST": True,  # request and response bodies each exactly as they are
    "ENUM_NAME_OVERRIDES": {
        "CheckEnum": "signight.views.CHECK",
        "LiveStatusEnum": "signight.views.LIVE_STATUS",
        "ReadyStatusEnum": "signight.views.READY_STATUS",
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,  # the values are their own names
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],  # the schema is public, even to a client with a stale token
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},  # no validator.swagger.io
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

SIMPLE_JWT = {
    "ALGORITHM": "RS256" if JWT_PUBLIC_KEY else "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "VERIFYING_KEY": JWT_PUBLIC_KEY or "",
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "USER_ID_CLAIM": "sub",
    "TOKEN_OBTAIN_SERIALIZER": "signight.auth.TokenObtainSerializer",
    "UPDATE_LAST_LOGIN": False,
}

# --- Production hardening (behind the Istio gateway, which terminates TLS) -----------------
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STORAGES = {
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # three.js from play/node_modules and the JS client from clients/js, for /play/ (issue 14)
    "play.finders.AssetFinder",
]
WHITENOISE_USE_FINDERS = True  # serve admin assets without collectstatic in development
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = logs.config(level=LOG_LEVEL, fmt=LOG_FORMAT)
