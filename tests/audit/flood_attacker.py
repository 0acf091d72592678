"""One attacking worker process for tests/audit/test_flooding.py, started with the "spawn" method: a fresh
interpreter, not a fork of the test run. A fork copies the locks other threads of a long test run happen to
hold (a live server's, a logging handler's) and can hang on them for ever; a spawned child sets Django up
itself, as the test run is set up, and then signs in wrongly `n` times from one address."""

import os


def attack(worker: int, n: int, results, db_name: str, overrides: dict, address: str, login: str) -> None:
    try:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.db import connections
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()  # as pytest-django does: the test client's host is allowed
        for name, value in overrides.items():
            setattr(settings, name, value)
        settings.DATABASES["default"]["NAME"] = db_name  # the test database the parent created
        connections["default"].settings_dict["NAME"] = db_name
        c = Client(REMOTE_ADDR=address)
        for i in range(n):
            c.post(login, {"username": f"w{worker}-{i}", "password": "wrong"})
        results.put((worker, "ok"))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((worker, repr(exc)))
