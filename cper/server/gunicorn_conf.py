"""gunicorn's configuration for `cper serve`, read from the environment (gunicorn loads it as
`python:cper.server.gunicorn_conf`; it must not import Django: the master process stays free of
the application, so that a HUP starts workers on the code as it is now).

CPER_BIND (default 127.0.0.1:8000; several addresses separated by commas, or unix:/path),
CPER_WORKERS or WEB_CONCURRENCY (default 2 × cores + 1, at most 9), CPER_THREADS (default 1),
CPER_TIMEOUT (seconds a request may take, default 120: exports and PDF reports are long),
FORWARDED_ALLOW_IPS (gunicorn's: the proxies whose X-Forwarded-Proto is believed).
Signals: HUP reloads gracefully (new workers, then the old ones finish their requests), TERM
stops after the current requests, TTIN/TTOU add or remove a worker.
"""

from __future__ import annotations

import os

bind = [b.strip() for b in os.environ.get("CPER_BIND", "127.0.0.1:8000").split(",") if b.strip()]
workers = int(
    os.environ.get("CPER_WORKERS")
    or os.environ.get("WEB_CONCURRENCY")
    or min(2 * (os.cpu_count() or 1) + 1, 9)
)
threads = int(os.environ.get("CPER_THREADS", "1"))
timeout = int(os.environ.get("CPER_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("CPER_GRACEFUL_TIMEOUT", "30"))
# A worker is replaced after this many requests: memory stays bounded over weeks.
max_requests = int(os.environ.get("CPER_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
proc_name = "cper"
# One line per request comes from the application (logger cper.requests, with the request id).
accesslog = None
# gunicorn's control socket (gunicornc) is not used: signals do the same, and the socket would
# be one more file under $HOME for the service account.
control_socket_disable = True


def _json_logs() -> bool:
    given = os.environ.get("CPER_LOG_FORMAT")
    if given:
        return given == "json"
    debug = os.environ.get("DJANGO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    return not debug


# gunicorn's own messages (start, workers, signals) in the same format as the application's.
# gunicorn merges this dict into its defaults key by key, so every name they use is given.
if _json_logs():
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            # The access log is the application's (cper.requests, with the request id).
            "gunicorn.access": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        },
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
    }
