"""One settings module, read from the environment (12-factor). Defaults work offline on a fresh machine. Numbers
are read with config.env, which stops the process with one line on a value the variable does not take."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from config.env import env_bool, env_choice, env_float, env_hosts, env_int, env_rate
from memoryspaces.validators import is_llm_base_url  # stdlib only: safe while settings load

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data"))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_key_of(data_dir: Path) -> str:
    """SECRET_KEY when set, else a random key made once under `data_dir` (readable by its owner only) and read
    by every process of that directory: web, worker and beat sign alike, and no published default key signs
    anything. Written to a file of its own, then linked into place: two processes starting at once keep one."""
    import secrets

    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secret_key.{os.getpid()}"
        draft.unlink(missing_ok=True)
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the one
        finally:
            draft.unlink()
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or secret_key_of(DATA_DIR)
# The loopback names are always allowed besides: the healthchecks (docker-compose.yml's, a probe on the host) ask
# on 127.0.0.1 whatever public name ALLOWED_HOSTS gives, and a 400 there kept the container unhealthy.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = list(dict.fromkeys(env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver") + LOOPBACK_HOSTS))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1,http://localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "memoryspaces",
    "sessions_app",
    "mem0_compat",
    "lifecycle",
]

MIDDLEWARE = [
    "config.middleware.RequestSizeLimitMiddleware",
    "config.middleware.RoutePathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
APPEND_SLASH = False  # clients never follow a redirect; routes match exactly
# The largest valid request is a batch of 200 events of 100,000 characters each (up to ~4 bytes a character);
# their bodies' other keys at the bound below as well would make it ~130 MB, a batch to send in two.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 100 * 1024 * 1024)
# Free-form JSON a client stores, in bytes of compact UTF-8 JSON text (config.limits). Only the request size
# bounded it before, and every read, search and export of the row carried it. Metadata of a memory or a
# session, and a lifecycle strategy's opts (whose metadata its memories get): 64 KiB. An event body's keys
# besides `content` (1..100,000 characters by the contract): 256 KiB.
METADATA_MAX_BYTES = env_int("METADATA_MAX_BYTES", 64 * 1024)
EVENT_BODY_EXTRA_MAX_BYTES = env_int("EVENT_BODY_EXTRA_MAX_BYTES", 256 * 1024)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "memoryspaces.User"

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
            ],
        },
    },
]

# --- database: DATABASE_URL, else the embedded PostgreSQL + pgvector under DATA_DIR -----------------------
# Another kind of URL (mysql://, a bare host name) ended in a traceback from deep inside the database drivers.
DATABASE_URL = env_choice("DATABASE_URL", None, valid=lambda url: urlsplit(url).scheme in {"postgres", "postgresql"},
                          takes="a postgres:// or postgresql:// URL (PostgreSQL with pgvector)")
EMBEDDED_POSTGRES_STARTED = False
if not DATABASE_URL:
    from config.embedded import EmbeddedPostgres

    DATABASE_URL, EMBEDDED_POSTGRES_STARTED = EmbeddedPostgres(DATA_DIR).ensure_running()
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 600, minimum=0))}
# Off by default: a health check is one more round trip per request. A connection that died (database
# restarted) fails one request with a 503 and is replaced on the next.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("CONN_HEALTH_CHECKS", False)
# pgvector: filtered HNSW scans go on until they have enough rows (else a filtered scope served from the index
# returns too few), set once per connection instead of per query.
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 100, maximum=1000)
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    f"-c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search={HNSW_EF_SEARCH}")
# A database that takes the TCP connection and never answers (hung, or a stuck proxy) would hold a request,
# /ready included, for as long as the kernel keeps the socket: libpq waits forever by default.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker: REDIS_URL, else an embedded Redis under DATA_DIR ----------------------------------------------
REDIS_URL = env_choice("REDIS_URL", None, valid=lambda url: urlsplit(url).scheme in {"redis", "rediss", "unix"},
                       takes="a redis://, rediss:// or unix:// URL")
EMBEDDED_REDIS_STARTED = False
if not REDIS_URL:
    from config.embedded import EmbeddedRedis

    REDIS_URL, EMBEDDED_REDIS_STARTED = EmbeddedRedis(DATA_DIR).ensure_running()
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("CELERY_CONCURRENCY", 2)  # processes; not on the command lines, so all agree
CELERY_TASK_IGNORE_RESULT = True  # task state lives in PostgreSQL rows, not in a result backend
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Time limits (enforced by the prefork pool, the worker's default): a task still running after the soft limit
# gets SoftTimeLimitExceeded wherever it is (a hung LLM or embedder call, a slow statement) and records a
# failure that is retried; one that does not end within the hard limit is killed. Whatever takes over a
# running task's work waits for longer than the hard limit, so that work is never run twice beside a living
# task: the stale-running limits below and the broker's visibility timeout (after which Redis hands an
# unacknowledged message to another worker). A soft limit fits one add with a provider at its slowest (two
# LLM calls and their retry at LLM_TIMEOUT_SECONDS each, the embedder's); an extraction takes as many attempts
# as its session needs, resuming after the chunks done. Each message carries its publisher's limits: the web
# processes and the workers must read the same environment.
TASK_SOFT_TIME_LIMIT_SECONDS = env_int("TASK_SOFT_TIME_LIMIT_SECONDS", 600)
TASK_TIME_LIMIT_SECONDS = env_int("TASK_TIME_LIMIT_SECONDS", TASK_SOFT_TIME_LIMIT_SECONDS + 60,
                                  minimum=TASK_SOFT_TIME_LIMIT_SECONDS + 1)
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT_SECONDS
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT_SECONDS
_TAKEOVER_AFTER = max(1800, TASK_TIME_LIMIT_SECONDS + 60)  # the stale-running limits' default
# Publishing must fail fast when Redis is down: the API keeps answering and the sweep re-enqueues later.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5,
                                   "visibility_timeout": max(3600, _TAKEOVER_AFTER)}
CELERY_TASK_PUBLISH_RETRY = False

# --- session lifecycle ------------------------------------------------------------------------------------
LIFECYCLE_SWEEP_SECONDS = env_int("LIFECYCLE_SWEEP_SECONDS", 60)
LIFECYCLE_SWEEP_BATCH = env_int("LIFECYCLE_SWEEP_BATCH", 5000)  # rows per statement
LIFECYCLE_SWEEP_MAX_BATCHES = env_int("LIFECYCLE_SWEEP_MAX_BATCHES", 20)  # bounds one sweep's work
LIFECYCLE_REPUBLISH_AFTER_SECONDS = env_int("LIFECYCLE_REPUBLISH_AFTER_SECONDS", 120)
LIFECYCLE_STALE_RUNNING_SECONDS = env_int("LIFECYCLE_STALE_RUNNING_SECONDS", _TAKEOVER_AFTER,
                                          minimum=TASK_TIME_LIMIT_SECONDS + 1)
LIFECYCLE_MAX_RETRIES = env_int("LIFECYCLE_MAX_RETRIES", 5, minimum=0)
LIFECYCLE_EXTRACT_CHUNK = env_int("LIFECYCLE_EXTRACT_CHUNK", 40)  # messages per extraction call
# Adds queued with async_mode whose Celery message may be lost (a failed publish, a worker that died) are
# published again: PENDING for this long, or RUNNING for the second (a worker that died mid-add).
ADD_REQUEST_REPUBLISH_AFTER_SECONDS = env_int("ADD_REQUEST_REPUBLISH_AFTER_SECONDS", 120)
ADD_REQUEST_STALE_RUNNING_SECONDS = env_int("ADD_REQUEST_STALE_RUNNING_SECONDS", _TAKEOVER_AFTER,
                                            minimum=TASK_TIME_LIMIT_SECONDS + 1)
CELERY_BEAT_SCHEDULE = {
    "lifecycle-sweep": {"task": "lifecycle.tasks.sweep", "schedule": float(LIFECYCLE_SWEEP_SECONDS)},
    "add-requests-republish": {"task": "mem0_compat.tasks.republish_add_requests",
                               "schedule": ADD_REQUEST_REPUBLISH_AFTER_SECONDS / 2},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- token counting: tiktoken with BPE files shipped in a wheel, never downloaded -------------------------
TIKTOKEN_CACHE_DIR = os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(DATA_DIR / "tiktoken"))
TOKEN_ENCODING = os.environ.get("TOKEN_ENCODING", "cl100k_base")

# --- long-term memory (mem0-compatible) ------------------------------------------------------------------
# Embedder: "minilm" (all-MiniLM-L6-v2 on onnxruntime, offline, 384 dims), "minilm-int8" (the same with int8
# weights: faster, slightly different vectors), "static" (model2vec, 64 dims), or "<provider>/<model>" for an
# OpenAI-compatible endpoint or one of mem0's embedder providers.
OFFLINE_DIMENSIONS = {"minilm": 384, "minilm-int8": 384, "static": 64}
EMBEDDER = env_choice("EMBEDDER", "minilm", valid=lambda name: name in OFFLINE_DIMENSIONS or "/" in name.strip("/"),
                      takes="minilm, minilm-int8, static or <provider>/<model>")
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", OFFLINE_DIMENSIONS.get(EMBEDDER, 1536), maximum=16000)
# onnxruntime threads per process: all cores for one process (benchmarks, reembed); gunicorn.conf.py gives
# each web process one, since several web processes already share the cores.
EMBEDDER_THREADS = env_int("EMBEDDER_THREADS", os.cpu_count() or 1)
# An endpoint without a scheme ("localhost:11434") failed every call, as a 502 or a 500, rather than the start.
EMBEDDER_BASE_URL = env_choice("EMBEDDER_BASE_URL", None, valid=is_llm_base_url, takes="an http(s) URL with a host")
EMBEDDER_API_KEY = os.environ.get("EMBEDDER_API_KEY") or os.environ.get("OPENAI_API_KEY")
# LLM for fact extraction: a space's llmModelName/llmBaseUrl, else these defaults; with no model at all the
# offline heuristic extractor runs. Keys come only from the environment, never from a space.
LLM_MODEL = os.environ.get("LLM_MODEL")
LLM_BASE_URL = env_choice("LLM_BASE_URL", None, valid=is_llm_base_url, takes="an http(s) URL with a host")
LLM_API_KEY = os.environ.get("LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 60.0, minimum=0.001)
# Hosts a space's own llmBaseUrl may name besides public ones (and LLM_BASE_URL's): names, addresses, networks,
# or * for any. Unset: none, so that no tenant reaches the operator's internal hosts (memoryspaces.validators).
LLM_ALLOWED_HOSTS = env_hosts("LLM_ALLOWED_HOSTS")
# Hybrid search: score = (1 - w) * cosine similarity + w * (text rank / best text rank among the candidates).
SEARCH_TEXT_WEIGHT = env_float("SEARCH_TEXT_WEIGHT", 0.5, minimum=0.0, maximum=1.0)  # best on LoCoMo (bench retrieval)
SEARCH_TEXT_SCAN_LIMIT = env_int("SEARCH_TEXT_SCAN_LIMIT", 200)  # rows a full-text tier reads at most
# words in more than this share of memories are too common to pick rows
SEARCH_TEXT_COMMON_SHARE = env_float("SEARCH_TEXT_COMMON_SHARE", 0.02, minimum=0.0, maximum=1.0)
SEARCH_EXACT_MAX_ROWS = env_int("SEARCH_EXACT_MAX_ROWS", 2000, minimum=0)  # scopes searched exactly, row by row
# mem0 (used for its prompts and provider factories) must not phone home or write to ~/.mem0.
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("MEM0_DIR", str(DATA_DIR / "mem0"))

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["memoryspaces.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.api.renderers.NullableJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.JSONOrEmptyParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.negotiation.JSONContentNegotiation",
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["memoryspaces.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env_rate("API_RATE_LIMIT")},  # e.g. "600/minute"
}
# Rate-limit counters are shared by every web process through Redis (database 1, away from the broker's).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": urlsplit(REDIS_URL)._replace(path="/1").geturl(),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
API_VERSION_STRING = "2.49.0"
SPECTACULAR_SETTINGS = {
    "TITLE": "Agentic memory service",
    "DESCRIPTION": "Chat history (memory spaces, sessions, events) and mem0-compatible long-term memory.",
    "VERSION": API_VERSION_STRING,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "config.api.schema.add_service_paths"],
    # Swagger UI and ReDoc assets come from the sidecar package: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "sessions_app.models.Event.EventType",
        "EmitterTypeEnum": "sessions_app.models.Event.EmitterType",
        "StrategyTypeEnum": "sessions_app.models.LifecycleStrategy.Type",
        "AddRequestStatusEnum": "mem0_compat.models.AddRequest.Status",
    },
}
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60  # last_used_at is written at most this often per key

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise wants it to exist even when serving from finders
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve admin/swagger assets without a collectstatic step

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_choice(
        "LOG_LEVEL", "INFO", valid=lambda level: level.upper() in LOG_LEVELS,
        takes=", ".join(LOG_LEVELS)).upper()},
}
