"""The posting path's shortcuts give exactly what the general code gives: the same fen for every amount,
the same bytes under the seal (ledger_verify and stored checkpoints recompute them the general way)."""

import random
from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from core.money import AmountError, to_fen
from ledger import chain
from ledger.services import _fen_quick

AMOUNTS = ["12345.67", "0.5", "12", "1.", "abc", ".5", "1.234", "-1", "1,000.00", " 5 ", "0", "0.00", "١٢", "²",
           Decimal("1.5"), Decimal("-1"), 5, True, 1.5, Money("3.10", "CNY"), Money("3", "USD"), "1e3",
           "999999999999999.99", "9999999999999999", "", None, "+5", "0.0", "NaN", "Infinity"]


@pytest.mark.parametrize("value", AMOUNTS, ids=repr)
def test_quick_fen_agrees_with_to_fen(value):
    if value is None or value == "":
        expected = 0
    else:
        try:
            expected = to_fen(value)
        except AmountError:
            expected = None
    assert _fen_quick(value) == (expected if expected is None or expected >= 0 else None)


def test_batch_seal_is_byte_identical_to_entry_hash_and_content_digest():
    rng = random.Random(16)
    chars = 'ab"\\\n\t\x00\x1f中文é\u2028 {}[],:'

    def text():
        return "".join(rng.choice(chars) for _ in range(rng.randrange(0, 8)))

    sealer = chain.link_sealer()
    for i in range(500):
        rows = [[text(), rng.randrange(0, 10**12), rng.randrange(0, 10**12), text(), text()]
                for _ in range(rng.randrange(1, 5))]
        memo, day = text(), date(2019, 1 + i % 12, 1 + i % 28)
        lines = [chain.LineContent(*row) for row in rows]
        assert chain.content_digest_rows(day, memo, rows) == chain.content_digest(entry_date=day, memo=memo,
                                                                                  lines=lines)
        f = {"prev_hash": text(), "book_code": text(), "seq": i + 1, "fiscal_year": 2019, "number": i + 1,
             "period": "2019-01", "source": text(), "idempotency_key": rng.choice([None, text()]),
             "reverses": rng.choice([None, 5]), "made_by": rng.choice([None, 3]), "reviewed_by": 4,
             "content": "ab" * 32, "supervisor": rng.choice([None, 9]),
             "attachments": tuple(text() for _ in range(rng.randrange(3))), "month_number": i + 1}
        fields = [f["book_code"], f["seq"], f["fiscal_year"], f["number"], f["period"], f["source"],
                  f["idempotency_key"], f["reverses"], f["made_by"], f["reviewed_by"], f["content"],
                  f["supervisor"], sorted(f["attachments"]), f["month_number"]]
        assert chain.link(sealer, f["prev_hash"], fields) == chain.entry_hash(**f)
