"""Checkpoints kept outside the database: for each chain (a book's, the audit trail's), its length, its
head and a digest of what it adds up to, sealed, one line per commit in a file of its own.

Rows in the database can be rewritten and re-linked by someone who holds the database; they cannot
rewrite these files (deployed on another host or an append-only volume), nor forge a line's seal. So
a tail cut off, or an older database restored, shows as a chain shorter than, or different from, its
last checkpoint.
"""

import json
import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .seal import canonical, seal, sealed_by_us


def _path(chain: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in chain)
    return Path(settings.LEDGER_CHECKPOINT_DIR) / f"{safe}.jsonl"


def checkpoint_append(chain: str, *, length: int, head: str, digest: str = "") -> dict:
    """Append one sealed line; a single write on a file opened for appending, so writers never interleave."""
    line = {"chain": chain, "length": length, "head": head, "digest": digest, "at": timezone.now().isoformat()}
    line["seal"] = seal(canonical(line))
    path = _path(chain)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return line


def checkpoint_last(chain: str) -> tuple[dict | None, str]:
    """The chain's latest checkpoint that carries our seal, and what is wrong with the file ('' if nothing).

    The longest sealed line wins: lines may land out of order when two commits race, and a chain only grows.
    """
    path = _path(chain)
    if not path.exists():
        return None, ""
    best, bad = None, 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
            mark = line.pop("seal")
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if not sealed_by_us(mark, canonical(line)) or line.get("chain") != chain:
            bad += 1
            continue
        if best is None or line["length"] >= best["length"]:
            best = line
    return best, (f"{bad} line(s) of {path.name} not sealed by this ledger" if bad else "")
