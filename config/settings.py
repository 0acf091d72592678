"""One settings module, driven by the environment.

DATABASE_URL   sqlite:///path or postgres://user@host:port/name (default: SQLite file db.sqlite3)
DATABASE_PG_OPTIONS  PostgreSQL startup options (default "-c jit=off"; empty for none)
REDIS_URL      Celery broker (default redis://127.0.0.1:6379/0)
SECRET_KEY     required when DEBUG is off; a development key is generated otherwise
DEBUG          "1"/"true" to enable (default on for development)
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DEBUG", True)


def _key(name: str, filename: str) -> str:
    key = os.environ.get(name)
    if key:
        return key
    if not DEBUG:
        raise RuntimeError(f"{name} must be set when DEBUG is off")
    # A development key kept beside the database so it survives restarts; it is
    # git-ignored and never used in production.
    path = BASE_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _key("SECRET_KEY", ".secret_key")
# Resident ID numbers are stored only as HMAC-SHA256 pseudonyms under this key; keep it
# apart from SECRET_KEY so rotating sessions never changes who a claim belongs to.
PSEUDONYM_KEY = _key("PSEUDONYM_KEY", ".pseudonym_key")
# The seal of every book's hash chain and of the audit trail (HMAC-SHA256): kept out of the database, so
# someone who can write every table still cannot produce a chain that verifies. Never change it once
# entries are sealed (verification would fail for every book).
LEDGER_SEAL_KEY = _key("LEDGER_SEAL_KEY", ".seal_key")
# Checkpoints (book, chain length, head, balance digest, sealed) are appended here after every posting,
# outside the database: a truncated tail or an older database restored is found by comparing with them.
# In production, a directory the database's administrators cannot rewrite (another host, append-only).
LEDGER_CHECKPOINT_DIR = Path(os.environ.get("LEDGER_CHECKPOINT_DIR", BASE_DIR / "out" / "checkpoints"))
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djmoney",
    "audit",
    "django_celery_beat",
    "axes",
    "accounts",
    "ledger",
    "contracts",
    "claims",
    "reconciliation",
    "reports",
    "import_export",  # list exports from the admin (core.exports)
    "imports",  # uploads with a preview (bank statements, claims files, top-up tables)
    "access",  # last: wraps every admin registered above in the user's scope
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and scripts) served by the application itself from STATIC_ROOT, after
    # `collectstatic`: gunicorn alone is the whole web tier (docs/operations.md).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.middleware.ExpiredSessionAudit",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue for the lock instead of failing at once; WAL lets readers
    # (trial balances, verify_ledger) run beside a poster. recursive_triggers: a REPLACE's deletion then
    # fires the guards' DELETE triggers too (they hold without it, as in the sqlite3 shell: migration
    # ledger 0006 refuses the collision before REPLACE deletes). cache_size: up to 64 MB of pages per
    # connection (SQLite's default is 2 MB): a million claims' dozen indexes thrashed the small cache, and the
    # import waited 16.8 s for its inserts instead of 8.4 s (docs/scale.md). The claims import itself now holds
    # 32 MB (claims.services.IMPORT_CACHE_KIB): as fast, and 37 MB less at its peak.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA recursive_triggers=ON; PRAGMA cache_size=-65536;"}
    )

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: on the admin's big lists PostgreSQL compiled each search (20–50 ms) to save less
    # than that; measured at 10 M postings (docs/scale.md). DATABASE_PG_OPTIONS replaces these startup
    # options (empty for none, e.g. behind a connection pooler that refuses them).
    pg_options = os.environ.get("DATABASE_PG_OPTIONS", "-c jit=off")
    if pg_options:  # options given in DATABASE_URL itself (?options=…) are kept as given
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", pg_options)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "core.passwords.CharacterClassesValidator"},
]

# -- sign-in and sessions ---------------------------------------------------------------
# django-axes counts failed sign-ins per user name and address: the fifth locks that pair out
# for 15 minutes (HTTP 429, page in Chinese); a good sign-in clears the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# A session ends after 30 idle minutes, and with the browser.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", 30 * 60))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "access.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
if not DEBUG:
    # Production is served over HTTPS only.
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if _env_bool("BEHIND_TLS_PROXY", False):  # the proxy terminating TLS sets X-Forwarded-Proto
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Production serves hashed, compressed copies collected by `manage.py collectstatic` (WhiteNoise, cached for a
# year); development serves the apps' files as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Development (and the tests) read the apps' files where they are; production only what collectstatic wrote.
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Money: CNY only, 2 places (fen).
CURRENCIES = ("CNY",)
CURRENCY_CHOICES = [("CNY", "CNY 人民币")]
DEFAULT_CURRENCY = "CNY"

# Celery: Redis broker; the schedule lives in the database (django-celery-beat).
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
# Rows a worker lays out per part of a long statement (about 80 ledger pages at 3000).
REPORT_PART_ROWS = int(os.environ.get("REPORT_PART_ROWS", "3000"))
# Where statement jobs write their parts and PDFs; every worker must see the same directory.
REPORT_JOBS_DIR = Path(os.environ.get("REPORT_JOBS_DIR", BASE_DIR / "out" / "jobs"))
# The shipped font converted to TrueType for the canvas renderer (made on first use).
REPORT_FONT_CACHE = Path(os.environ.get("REPORT_FONT_CACHE", BASE_DIR / "out" / "fonts"))
# A statement requested while no worker listens is offered to be rendered in the request itself when it is
# no larger than this many rows (postings of a 明细账, voucher lines of a 记账凭证 …; reports.workers).
REPORT_INLINE_MAX_ROWS = int(os.environ.get("REPORT_INLINE_MAX_ROWS", "2000"))
# A job still queued after this many minutes with no worker listening says so in the list (状态说明).
REPORT_QUEUED_STALE_MINUTES = int(os.environ.get("REPORT_QUEUED_STALE_MINUTES", "5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}


# Plausibility limits of imported amounts, in yuan: a figure beyond them is a slip of the keyboard or a
# forged file, and is refused with its row rather than booked.
def _env_yuan(name: str, default: str):
    from decimal import Decimal, InvalidOperation

    text = os.environ.get(name, default).replace(",", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0 or not text.replace(".", "", 1).isdigit():
        raise RuntimeError(f"{name} must be a positive amount in yuan written in digits, found {text!r}")
    return value


CLAIM_AMOUNT_LIMIT = _env_yuan("CLAIM_AMOUNT_LIMIT", "5000000")  # per claim: out-of-pocket and paid
# A scanned 银行回单 or invoice attached to a voucher (ledger.attachments): PDF, JPEG or PNG up to this size.
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
TOPUP_AMOUNT_LIMIT = _env_yuan("TOPUP_AMOUNT_LIMIT", "1000000000")  # per row of a top-up table
BANK_AMOUNT_LIMIT = _env_yuan("BANK_AMOUNT_LIMIT", "10000000000")  # per bank statement line and balance

# -- uploads in the admin (imports) -----------------------------------------------------------
# A file above this size is refused before it is read; above this many rows the confirmed import runs
# on a Celery worker (queue UPLOAD_QUEUE) with its progress on the staged upload, below it in the request.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(20 * 1024 * 1024)))
UPLOAD_INLINE_ROWS = int(os.environ.get("UPLOAD_INLINE_ROWS", "2000"))
UPLOAD_QUEUE = os.environ.get("UPLOAD_QUEUE", "celery")  # Celery's default queue

# -- audit trail flood limit ------------------------------------------------------------------
# Events of requests without a signed-in user (failed sign-ins, CSRF failures, expired sessions)
# can be made by anyone: past these limits per window they are counted, not written one by one,
# and the trail gets one summary per source address when the window ends (audit.services).
AUDIT_FLOOD_WINDOW_SECONDS = int(os.environ.get("AUDIT_FLOOD_WINDOW_SECONDS", 600))
AUDIT_FLOOD_PER_SOURCE = int(os.environ.get("AUDIT_FLOOD_PER_SOURCE", 20))  # per address (IPv6: per /64)
AUDIT_FLOOD_ALL_SOURCES = int(os.environ.get("AUDIT_FLOOD_ALL_SOURCES", 500))  # all unauthenticated sources
AUDIT_FLOOD_SUMMARIES = int(os.environ.get("AUDIT_FLOOD_SUMMARIES", 50))  # sources summed up one by one per window


# -- statement signatures (PAdES) ------------------------------------------------------------
# Every statement is signed with the institution's certificate (reports/signing.py), so auditors can
# check it in any PDF reader. Production names its key and certificate; development makes a
# self-signed root and signing certificate once into .signing/ (git-ignored), as for .secret_key.
#   REPORT_SIGNING_KEY       the signing key: PEM or DER, or a PKCS#12 file (.p12/.pfx) holding key and certificate
#   REPORT_SIGNING_CERT      the signing certificate (PEM or DER); not needed with PKCS#12
#   REPORT_SIGNING_PASSWORD  the key's (or PKCS#12 file's) password, if any
#   REPORT_SIGNING_CHAIN     intermediate certificates embedded in every signature (comma-separated files)
#   REPORT_TRUST_ROOTS       the root certificate(s) validation trusts (comma-separated files)
def _paths(name: str) -> list[Path]:
    return [Path(p.strip()) for p in os.environ.get(name, "").split(",") if p.strip()]


def _report_signing() -> dict:
    from reports.signing import credentials_check, dev_credentials_ensure

    key = os.environ.get("REPORT_SIGNING_KEY", "").strip()
    if key:
        config = {"key": Path(key), "cert": Path(c) if (c := os.environ.get("REPORT_SIGNING_CERT", "").strip()) else None,
                  "password": os.environ.get("REPORT_SIGNING_PASSWORD", ""), "chain": _paths("REPORT_SIGNING_CHAIN"),
                  "trust_roots": _paths("REPORT_TRUST_ROOTS")}
        if not config["trust_roots"]:
            raise RuntimeError("REPORT_TRUST_ROOTS must name the root certificate(s) statements are validated against")
        for path in config["chain"] + config["trust_roots"]:
            if not path.is_file():
                raise RuntimeError(f"REPORT_SIGNING_CHAIN / REPORT_TRUST_ROOTS: no such file {path}")
        credentials_check(key=config["key"], cert=config["cert"], password=config["password"])
        return config
    if not DEBUG:
        raise RuntimeError("REPORT_SIGNING_KEY (with REPORT_SIGNING_CERT and REPORT_TRUST_ROOTS) must be set "
                           "when DEBUG is off: every statement is signed with the institution's certificate")
    config = dev_credentials_ensure(BASE_DIR / ".signing")
    # A development machine may also trust other roots (to check statements signed elsewhere).
    config["trust_roots"] += _paths("REPORT_TRUST_ROOTS")
    return config


_signing = _report_signing()
REPORT_SIGNING_KEY = _signing["key"]
REPORT_SIGNING_CERT = _signing["cert"]
REPORT_SIGNING_PASSWORD = _signing["password"]
REPORT_SIGNING_CHAIN = _signing["chain"]
REPORT_TRUST_ROOTS = _signing["trust_roots"]
# A statement whose signature fails validation is an answer for the auditor, not a server fault:
# pyHanko would log a warning with a traceback for each one.
LOGGING.setdefault("loggers", {})["pyhanko"] = {"level": "ERROR"}
