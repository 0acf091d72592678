"""The canonical content of an entry and the hash chain over a book's entries.

Each posted entry's hash covers its canonical content and the previous entry's hash,
so changing, removing or reordering any posted row behind the application's back
breaks every later link, and verify_ledger names the first entry that no longer fits.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class LineContent:
    account_code: str
    debit_fen: int
    credit_fen: int
    memo: str = ""
    counterparty: str = ""


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _lines(lines) -> list:
    return [[ln.account_code, ln.debit_fen, ln.credit_fen, ln.memo, ln.counterparty] for ln in lines]


def content_digest(*, entry_date: date, memo: str, lines) -> str:
    """What an entry says, independent of when and as what number it was posted.

    Two submissions under one idempotency key are the same entry when this agrees.
    """
    return hashlib.sha256(_dumps({"date": entry_date.isoformat(), "memo": memo, "lines": _lines(lines)})).hexdigest()


def entry_hash(
    *,
    prev_hash: str,
    book_code: str,
    seq: int,
    fiscal_year: int,
    number: int,
    entry_date: date,
    period: str,
    memo: str,
    source: str,
    idempotency_key: str | None,
    reverses: int | None,
    made_by: int | None,
    reviewed_by: int | None,
    lines,
) -> str:
    payload = _dumps(
        {
            "book": book_code,
            "seq": seq,
            "year": fiscal_year,
            "number": number,
            "date": entry_date.isoformat(),
            "period": period,
            "memo": memo,
            "source": source,
            "key": idempotency_key,
            "reverses": reverses,
            "made_by": made_by,
            "reviewed_by": reviewed_by,
            "lines": _lines(lines),
        }
    )
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()
