"""Celery workers started for a benchmark: on a private queue of the local Redis, against the scratch
database and its scratch checkpoint directory, the way the deployment's workers run statement jobs."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from django.conf import settings
from django.db import connection


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Celery workers on a private queue of the local Redis, against the scratch database."""

    def __init__(self, concurrency: int):
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.jobs_dir = tempfile.mkdtemp(prefix="bench-jobs-")
        self.log = tempfile.TemporaryFile()
        env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
               "REPORT_JOBS_DIR": self.jobs_dir, "LEDGER_CHECKPOINT_DIR": str(settings.LEDGER_CHECKPOINT_DIR)}
        self.name = f"{self.queue}@localhost"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue, "-c", str(concurrency),
             "-n", self.name, "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, seconds: float = 120) -> None:
        from config.celery import app

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited at start: {self.tail()}")
            if app.control.ping(destination=[self.name], timeout=1):
                return
        raise RuntimeError(f"the worker did not answer within {seconds} s: {self.tail()}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.jobs_dir, ignore_errors=True)
