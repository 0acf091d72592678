"""The canonical content of an entry and the hash chain over a book's entries.

Each posted entry's hash covers its canonical content and the previous entry's hash, sealed
under a key the database does not hold, so changing, removing or reordering any posted row
behind the application's back breaks every later link, cannot be re-sealed, and verify_ledger
names the first entry that no longer fits.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from core.seal import seal


@dataclass(frozen=True)
class LineContent:
    account_code: str
    debit_fen: int
    credit_fen: int
    memo: str = ""
    counterparty: str = ""


def _dumps(obj) -> bytes:
    # Lists in a fixed order, not dicts: canonical without sorting keys each time.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def content_digest(*, entry_date: date, memo: str, lines) -> str:
    """What an entry says — date, memo, every line — independent of when and as what it was posted.

    Two submissions under one idempotency key are the same entry when this agrees.
    """
    payload = [entry_date.isoformat(), memo,
               [[ln.account_code, ln.debit_fen, ln.credit_fen, ln.memo, ln.counterparty] for ln in lines]]
    return hashlib.sha256(_dumps(payload)).hexdigest()


def entry_hash(
    *,
    prev_hash: str,
    book_code: str,
    seq: int,
    fiscal_year: int,
    number: int,
    period: str,
    source: str,
    idempotency_key: str | None,
    reverses: int | None,
    made_by: int | None,
    reviewed_by: int | None,
    content: str,
    supervisor: int | None = None,
    attachments: tuple = (),
    month_number: int | None = None,
) -> str:
    """The link of one posted entry: its place and people, its content digest, the previous link —
    sealed under the ledger's key (core.seal), so only this application can make a link that verifies."""
    fields = [book_code, seq, fiscal_year, number, period, source, idempotency_key, reverses, made_by,
              reviewed_by, content]
    if supervisor is not None or attachments or month_number is not None:
        # Vouchers sealed before these existed keep their links.
        fields += [supervisor, sorted(attachments), month_number]
    payload = _dumps(fields)
    return seal(prev_hash.encode(), payload)


def balances_digest(rows) -> str:
    """What a book adds up to at a point of its chain: (account code, 'YYYY-MM', debit fen, credit fen) rows."""
    lines = sorted(f"{code}|{period}|{dr}|{cr}" for code, period, dr, cr in rows if dr or cr)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
