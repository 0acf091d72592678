"""The repository documents itself and stands alone: README.md and docs/*.md link to nothing outside it
(no web address but localhost and example hosts, no path climbing out of it such as ../shared), every
link to a file of the repository names one that exists, and docs/operations.md names every environment
variable the settings read."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR).resolve()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
URL = re.compile(r"\b(?:https?|ftp)://([^/\s)\]>`'\",，。；]+)", re.IGNORECASE)
# Hosts that are examples, not places to go: this machine, and the reserved example domains.
EXAMPLE_HOST = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(:\d+)?$|(^|\.)example\.(com|org|net|cn)(:\d+)?$",
                          re.IGNORECASE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]+)")


def _links_outside(path: Path, text: str | None = None) -> list[str]:
    """Every link or path in the document at `path` (or `text`, read as if it were there) that leaves the
    repository or names a file it does not hold."""
    text = path.read_text(encoding="utf-8") if text is None else text
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{path.relative_to(ROOT)}:{n}"
        for m in URL.finditer(line):
            if not EXAMPLE_HOST.search(m.group(1)):
                problems.append(f"{where}: a link outside the repository: {m.group(0)}")
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # a URL (checked above) or an anchor in the same page
            file = (path.parent / target.split("#", 1)[0]).resolve()
            if not file.is_relative_to(ROOT):
                problems.append(f"{where}: a link climbing out of the repository: {target}")
            elif not file.exists():
                problems.append(f"{where}: a link to a file that does not exist: {target}")
        for m in CLIMB.finditer(line):
            if not (path.parent / m.group(1)).resolve().is_relative_to(ROOT):
                problems.append(f"{where}: a path climbing out of the repository: {m.group(1)}")
        if re.search(r"/work/shared|\.\./shared\b|\bshared/(DESIGN|DOMAIN|seeds)", line):
            problems.append(f"{where}: names material outside the repository: {line.strip()[:80]}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_link_only_inside_the_repository(path):
    assert _links_outside(path) == []


def test_the_check_finds_what_it_must():
    probe = ROOT / "docs" / "probe.md"  # never written: the text is checked as if it were there
    found = _links_outside(probe, "See [the domain](../../shared/DOMAIN.md), [gone](missing.md), "
                                  "https://docs.djangoproject.com/ and ../../shared/seeds/.\n"
                                  "Fine: http://127.0.0.1:8000/admin/, https://ledger.example.cn, "
                                  "[controls](controls.md#roles), [top](#top), [README](../README.md).\n")
    line1 = [p for p in found if p.startswith("docs/probe.md:1:")]
    assert found == line1, found  # the second line holds only what is allowed
    assert any("climbing out of the repository: ../../shared/DOMAIN.md" in p for p in found)
    assert any("does not exist: missing.md" in p for p in found)
    assert any("outside the repository: https://docs.djangoproject.com" in p for p in found)
    assert any("climbing out of the repository: ../../shared/seeds/" in p for p in found)


def test_the_docs_index_lists_every_document():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for path in DOCS[1:]:
        if path.name != "README.md":
            assert f"]({path.name})" in index, f"docs/README.md does not link {path.name}"


def test_operations_names_every_environment_variable_the_settings_read():
    source = (ROOT / "config" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r"""(?:environ\.get|_env_bool|_env_yuan|_key|_paths)\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "STATIC_ROOT"} <= names
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in operations)
    assert missing == [], f"docs/operations.md does not document {missing}"
