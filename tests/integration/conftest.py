from .browser import _audit_trail_flushable, browser, new_page, page  # noqa: F401 - the browser tests' fixtures


def pytest_collection_modifyitems(items):
    # Every test that drives the browser carries the `browser` marker (`-m "not browser"` leaves them out).
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker("browser")
