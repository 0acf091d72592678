from .browser import browser, new_page  # noqa: F401 - the browser tests' fixtures
