"""Row counts of every table, to show that a refused import wrote nothing anywhere."""

from django.apps import apps


def table_counts() -> dict[str, int]:
    return {m._meta.label: m._base_manager.count() for m in apps.get_models() if m._meta.managed}


def assert_nothing_written(before: dict[str, int]) -> None:
    after = table_counts()
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
