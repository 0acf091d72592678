"""The ledger's seal: HMAC-SHA256 under a key the database does not hold (settings.LEDGER_SEAL_KEY).

A hash chain anyone can recompute protects only against careless edits; a sealed one resists someone
who can write every table, because a rewritten entry cannot be re-sealed without the key.
"""

import hashlib
import hmac
import json

from django.conf import settings


def canonical(obj) -> bytes:
    """One byte string per value: lists and sorted keys, compact, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


def seal(*parts: bytes) -> str:
    mac = hmac.new(settings.LEDGER_SEAL_KEY.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def sealed_by_us(value: str, *parts: bytes) -> bool:
    return hmac.compare_digest(value, seal(*parts))
