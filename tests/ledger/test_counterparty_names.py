"""Counterparty names held once (migration 0020): what the voucher search finds a name's words in.

The Shandong fund pays its premium tranches to two insurers; every line naming one adds the name once,
whichever path wrote the line, and a name stays while a line names it.
"""

import re
from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

import ledger.admin
from ledger.integrity import ledger_verify
from ledger.models import Counterparty, JournalEntry
from ledger.services import Line, entry_draft_save, entry_post

LIST = "/admin/ledger/journalentry/"
PICC = "人保财险山东分公司"
CHINA_LIFE = "中国人寿山东分公司"


def _sql(statement: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _refused(statement: str, params=()) -> str:
    with pytest.raises(IntegrityError) as info:
        _sql(statement, params)
    return str(info.value)


def _names() -> list[str]:
    return sorted(Counterparty.objects.values_list("name", flat=True))


def _tranche(book, i: int, insurer: str, signed) -> JournalEntry:
    return entry_post(book=book, date=date(2015, 4, 20 + i), memo=f"拨付大病保险费第{i}期",
                      lines=[Line("5101", debit=f"{1000 + i}.00"),
                             Line("1004", credit=f"{1000 + i}.00", counterparty=insurer)],
                      idempotency_key=f"premium-2015-{i}", **signed)


@pytest.fixture
def tranches(fund_book, signed):
    """Four tranches: the 1st and 3rd to 人保财险, the 2nd and 4th to 人寿; a line without a counterparty adds none."""
    return [_tranche(fund_book, i, PICC if i % 2 else CHINA_LIFE, signed) for i in range(1, 5)]


def test_each_name_a_line_names_is_held_once(tranches):
    # Posted one after another: each name added by the first line naming it, and not again.
    assert _names() == sorted([CHINA_LIFE, PICC])
    assert not Counterparty.objects.filter(name="").exists()


def test_a_line_written_by_raw_sql_or_changed_on_a_draft_adds_its_name(fund_book, maker):
    draft = entry_draft_save(book=fund_book, date=date(2015, 5, 6), memo="拨付大病保险费",
                             lines=[Line("5101", debit="10.00"), Line("1004", credit="10.00", counterparty=PICC)],
                             made_by=maker)
    assert _names() == [PICC]
    account = fund_book.accounts.get(code="5101").pk
    _sql("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
         " VALUES (%s, %s, 3, %s, 500, 0, '', %s)", [draft.pk, fund_book.pk, account, "济南市中心医院"])
    _sql("UPDATE ledger_posting SET counterparty = %s WHERE entry_id = %s AND line = 2", [CHINA_LIFE, draft.pk])
    assert _names() == sorted([PICC, CHINA_LIFE, "济南市中心医院"])


def test_a_name_is_never_renamed_nor_removed_while_a_line_names_it(tranches):
    name = Counterparty.objects.get(name=PICC)
    assert "never renamed" in _refused("UPDATE ledger_counterparty SET name = 'x' WHERE id = %s", [name.pk])
    assert "while a line names it" in _refused("DELETE FROM ledger_counterparty WHERE id = %s", [name.pk])
    if connection.vendor == "postgresql":
        assert "never truncated" in _refused("TRUNCATE ledger_counterparty")
    assert _names() == sorted([CHINA_LIFE, PICC])
    # A name no line names (a typo's, say) may go: nothing is hidden by its going.
    Counterparty.objects.create(name="人寿山东分公")
    _sql("DELETE FROM ledger_counterparty WHERE name = %s", ["人寿山东分公"])
    assert _names() == sorted([CHINA_LIFE, PICC])


def test_a_name_lost_behind_the_guards_is_named_by_verification(tranches, fund_book):
    # A restore that left the names out, or a superuser's delete with the triggers off: the lines stay sealed
    # and balanced, but the search would no longer find them by 人保财险, so verification names it.
    assert ledger_verify(book=fund_book).ok
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER ledger_counterparty_guard_delete")
        cursor.execute("DELETE FROM ledger_counterparty WHERE name = %s", [PICC])
    result = ledger_verify(book=fund_book)
    assert [(p["entry"], p["found"]) for p in result.problems] == [("(counterparties)", f"1 missing: {PICC}")]


def _found(client, term: str) -> list[str]:
    page = client.get(LIST, {"q": term}).content.decode()
    return list(dict.fromkeys(re.findall(r"记-2015-0\d-\d{4}", page)))


@pytest.fixture
def lisi(reviewer):
    client = Client()
    client.force_login(reviewer)
    return client


def test_the_search_finds_a_counterpartys_lines_by_any_part_of_its_name(tranches, lisi):
    newest_first = [e.voucher for e in reversed(tranches)]
    assert _found(lisi, "人寿") == [newest_first[0], newest_first[2]]
    assert _found(lisi, "山东分公司") == newest_first  # both names: every tranche
    assert _found(lisi, "平安") == []
    # A word of the memo or a counterparty's: either finds the voucher.
    assert _found(lisi, "第3期") == [tranches[2].voucher]


def test_a_name_two_transactions_added_at_once_finds_each_voucher_once(tranches, lisi):
    # Not unique, so that neither transaction waits for the other: both rows stay, and the search reads the
    # names as a set.
    Counterparty.objects.create(name=CHINA_LIFE)
    assert Counterparty.objects.filter(name=CHINA_LIFE).count() == 2
    assert _found(lisi, "人寿") == [tranches[3].voucher, tranches[1].voucher]
    page = lisi.get(LIST, {"q": "人寿"}).content.decode()
    assert page.count(tranches[3].voucher) == page.count(tranches[1].voucher) >= 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections at once: PostgreSQL")
def test_a_second_transaction_adding_the_same_new_name_does_not_wait(fund_book, signed):
    # This test's transaction posts a tranche to a new insurer and has not committed; another process adds
    # the same name meanwhile (as its lines' trigger would). It must go on at once, not wait for this one.
    import psycopg

    _tranche(fund_book, 1, "太平洋财险山东分公司", signed)
    s = connection.settings_dict
    other = psycopg.connect(host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
                            dbname=s["NAME"])
    try:
        other.execute("SET lock_timeout = '2s'")
        other.execute("INSERT INTO ledger_counterparty (name) SELECT %(n)s::varchar WHERE NOT EXISTS "
                      "(SELECT 1 FROM ledger_counterparty WHERE name = %(n)s::varchar)", {"n": "太平洋财险山东分公司"})
        assert other.execute("SELECT count(*) FROM ledger_counterparty WHERE name = %s",
                             ["太平洋财险山东分公司"]).fetchone() == (1,)  # its own row; ours is not committed
        other.rollback()
    finally:
        other.close()
    assert _names() == ["太平洋财险山东分公司"]


def test_a_term_in_too_many_names_searches_memos_and_keys_and_says_so(tranches, lisi, monkeypatch):
    # At most one name a term here: 山东分公司 is in two, so the lines are not searched for it, and the page
    # says why rather than showing no voucher as if none named it.
    monkeypatch.setattr(ledger.admin, "COUNTERPARTIES_AT_MOST", 1)
    page = lisi.get(LIST, {"q": "山东分公司"}).content.decode()
    assert re.findall(r"记-2015-0\d-\d{4}", page) == []
    assert "超过 1 个" in page and "山东分公司" in page
    assert _found(lisi, "人寿") == [tranches[3].voucher, tranches[1].voucher]
    assert _found(lisi, "大病保险费第2期") == [tranches[1].voucher]
