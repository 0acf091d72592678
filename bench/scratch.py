"""A throw-away database beside the configured one, so benchmarks never touch real books.

Posted entries can never be deleted, so benchmark rows must not land in a user's
database: Django's test-database machinery creates and migrates a scratch copy
(a temporary SQLite file, or test_<name> on PostgreSQL) and drops it afterwards.
"""

import contextlib
import os
import shutil
import tempfile

from django.conf import settings
from django.db import connection


@contextlib.contextmanager
def scratch_database():
    settings_dict = connection.settings_dict
    tmpdir = None
    if connection.vendor == "sqlite":
        # A file, not Django's default in-memory test database: measure real I/O.
        tmpdir = tempfile.mkdtemp(prefix="bench-")
        settings_dict.setdefault("TEST", {})["NAME"] = os.path.join(tmpdir, "bench.sqlite3")
    else:
        settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench"
    # Checkpoints of the scratch books go to a scratch directory too: written beside the real ones, a
    # benchmark book's checkpoint would later read as a real book cut short (and the next run's would fail).
    checkpoints, settings.LEDGER_CHECKPOINT_DIR = settings.LEDGER_CHECKPOINT_DIR, tempfile.mkdtemp(prefix="bench-cp-")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        shutil.rmtree(settings.LEDGER_CHECKPOINT_DIR, ignore_errors=True)
        settings.LEDGER_CHECKPOINT_DIR = checkpoints
        if tmpdir:
            for name in os.listdir(tmpdir):
                os.unlink(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)
