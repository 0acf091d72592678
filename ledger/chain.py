"""The canonical content of an entry and the hash chain over a book's entries.

Each posted entry's hash covers its canonical content and the previous entry's hash, sealed
under a key the database does not hold, so changing, removing or reordering any posted row
behind the application's back breaks every later link, cannot be re-sealed, and verify_ledger
names the first entry that no longer fits.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date

from django.conf import settings

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


# _dumps with one encoder made once (json.dumps builds one per call with these options): the same bytes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_string = json.encoder.encode_basestring  # json's own quoting of a str with ensure_ascii off


def content_digest(*, entry_date: date, memo: str, lines) -> str:
    """What an entry says — date, memo, every line — independent of when and as what it was posted.

    Two submissions under one idempotency key are the same entry when this agrees.
    """
    return content_digest_rows(entry_date, memo,
                               [[ln.account_code, ln.debit_fen, ln.credit_fen, ln.memo, ln.counterparty] for ln in lines])


def content_digest_rows(entry_date: date, memo: str, rows: list) -> str:
    """content_digest of lines given as [account code, debit fen, credit fen, memo, counterparty] lists:
    the posting path's form, which spares a LineContent per line."""
    if type(memo) is str and all(type(r[0]) is str and type(r[1]) is int and type(r[2]) is int
                                 and type(r[3]) is str and type(r[4]) is str for r in rows):
        # What json writes for strs and ints, spelt out: a third of the encoder's time per entry.
        text = (f'[{_string(entry_date.isoformat())},{_string(memo)},['
                + ",".join([f"[{_string(a)},{dr},{cr},{_string(m)},{_string(cp)}]" for a, dr, cr, m, cp in rows])
                + "]]")
    else:
        text = _ENCODER.encode([entry_date.isoformat(), memo, rows])
    return hashlib.sha256(text.encode()).hexdigest()


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


def link_sealer():
    """The ledger key's HMAC, ready to copy: sealing a batch's links from one keyed state spares
    re-deriving the key's pads for each (the same bytes as core.seal.seal)."""
    return hmac.new(settings.LEDGER_SEAL_KEY.encode(), digestmod=hashlib.sha256)


def link(sealer, prev_hash: str, fields: list) -> str:
    """entry_hash of a voucher sealed with its supervisor, attachments and month number, from `fields`
    in entry_hash's order: [book code, seq, year, number, period, source, key, reverses seq, made_by,
    reviewed_by, content digest, supervisor, sorted attachments, month number]."""
    mac = sealer.copy()
    mac.update(prev_hash.encode())
    mac.update(_ENCODER.encode(fields).encode())
    return mac.hexdigest()


def balances_digest(rows) -> str:
    """What a book adds up to at a point of its chain: (account code, 'YYYY-MM', debit fen, credit fen) rows."""
    lines = sorted(f"{code}|{period}|{dr}|{cr}" for code, period, dr, cr in rows if dr or cr)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
