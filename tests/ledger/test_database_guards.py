"""The database holds the ledger's invariants by itself: raw SQL cannot break them.

Each attempt below goes around the services straight to the tables, as a careless
script or an intruder with a database login would, and must fail leaving the posted
rows exactly as they were.
"""

from datetime import date
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import JournalEntry, Period, Posting
from ledger.services import entry_draft_save, year_close
from tests.conftest import premium_lines, refused_by_commit


def _sql(statement: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _refused(statement: str, params=()):
    with pytest.raises(IntegrityError) as info:
        _sql(statement, params)
    return str(info.value)


def _snapshot(entry):
    e = JournalEntry.objects.get(pk=entry.pk)
    rows = list(Posting.objects.filter(entry=e).order_by("line").values_list("account_id", "debit", "credit", "memo"))
    return (e.status, e.memo, e.date, e.number, e.hash), rows


def _account_id(book, code):
    return book.accounts.get(code=code).pk


def test_posted_postings_cannot_be_changed_deleted_or_added_to(fund_book, posted_premium):
    before = _snapshot(posted_premium)
    e = posted_premium.pk
    assert "never change" in _refused("UPDATE ledger_posting SET debit_fen = debit_fen + 1 WHERE entry_id = %s", [e])
    assert "never" in _refused("DELETE FROM ledger_posting WHERE entry_id = %s", [e])
    message = _refused(
        "INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
        " VALUES (%s, %s, 3, %s, 100, 0, '', '')", [e, fund_book.pk, _account_id(fund_book, "5101")])
    assert "draft entry" in message
    assert _snapshot(posted_premium) == before


def test_posted_entries_cannot_be_changed_or_deleted(posted_premium):
    before = _snapshot(posted_premium)
    assert "never changes" in _refused("UPDATE ledger_journalentry SET memo = 'x' WHERE id = %s", [posted_premium.pk])
    assert "never changes" in _refused(
        "UPDATE ledger_journalentry SET status = 'draft' WHERE id = %s", [posted_premium.pk])
    assert "never disappears" in _refused("DELETE FROM ledger_journalentry WHERE id = %s", [posted_premium.pk])
    assert _snapshot(posted_premium) == before


def _raw_draft(book, period, when=date(2015, 5, 6)):
    """A draft entry inserted by hand, as a script bypassing the services would."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_journalentry (book_id, period_id, date, fiscal_year, status, memo, source,"
            " content_digest, created_at, prev_hash, hash) VALUES (%s, %s, %s, %s, 'draft', 'raw', 'sql', '',"
            " %s, '', '')",
            [book.pk, period.pk, when, when.year, "2015-05-06 10:00:00+00:00"],
        )
    return JournalEntry.objects.get(book=book, memo="raw")


def _raw_posting(entry, account_id, line, dr, cr):
    _sql(
        "INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
        " VALUES (%s, %s, %s, %s, %s, %s, '', '')", [entry.pk, entry.book_id, line, account_id, dr, cr])


# What a seal looks like to the database (64 hex digits); only verify_ledger, holding the key, can tell it false.
FAKE_SEAL = "ab" * 32


def _post_raw(entry, number=1):
    """Turn a draft posted as the first entry of its book, numbered and sealed as the database requires
    (migration 0006), so that what refuses it is the rule a test is about."""
    _sql("UPDATE ledger_journalentry SET status = 'posted', number = %s, month_number = %s, seq = %s, posted_at = %s,"
         " prev_hash = '', hash = %s WHERE id = %s",
         [number, number, number, "2015-05-06 10:00:00+00:00", FAKE_SEAL, entry.pk])


def test_an_unbalanced_or_single_posting_entry_cannot_be_posted_by_sql(fund_book, maker, reviewer):
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    draft = _raw_draft(fund_book, may)
    _sql("UPDATE ledger_journalentry SET made_by_id = %s, reviewed_by_id = %s WHERE id = %s",
         [maker.pk, reviewer.pk, draft.pk])
    _raw_posting(draft, _account_id(fund_book, "5101"), 1, 10000, 0)
    with pytest.raises(IntegrityError, match="at least two postings"):
        _post_raw(draft)
    _raw_posting(draft, _account_id(fund_book, "1004"), 2, 0, 9999)
    with pytest.raises(IntegrityError, match="debits equal credits"):
        _post_raw(draft)
    draft.refresh_from_db()
    assert draft.status == "draft"
    _sql("UPDATE ledger_posting SET credit_fen = 10000 WHERE entry_id = %s AND line = 2", [draft.pk])
    _post_raw(draft)  # balanced and signed by two people now: the database lets it post
    draft.refresh_from_db()
    assert draft.status == "posted"


def test_an_entry_posted_by_sql_names_two_different_people(fund_book, maker):
    # A script that posts a balanced draft without its maker and a different reviewer is refused.
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    draft = _raw_draft(fund_book, may)
    _raw_posting(draft, _account_id(fund_book, "5101"), 1, 10000, 0)
    _raw_posting(draft, _account_id(fund_book, "1004"), 2, 0, 10000)
    with pytest.raises(IntegrityError, match="maker and a different reviewer"):
        _post_raw(draft)
    with pytest.raises(IntegrityError):  # one person as maker and reviewer: refused by a CHECK constraint
        _sql("UPDATE ledger_journalentry SET made_by_id = %s, reviewed_by_id = %s WHERE id = %s",
             [maker.pk, maker.pk, draft.pk])
    _sql("UPDATE ledger_journalentry SET made_by_id = %s WHERE id = %s", [maker.pk, draft.pk])
    with pytest.raises(IntegrityError, match="maker and a different reviewer"):
        _post_raw(draft)
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_negative_or_two_sided_postings_are_refused_by_check_constraints(fund_book):
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    draft = _raw_draft(fund_book, may)
    acc = _account_id(fund_book, "5101")
    for dr, cr in [(-100, 0), (0, -100), (100, 100), (0, 0), (100, -100)]:
        with pytest.raises(IntegrityError):
            _raw_posting(draft, acc, 1, dr, cr)
    assert not Posting.objects.filter(entry=draft).exists()


def _insert_posted(book, period, entry_id, *, made_by, reviewed_by, status="posted", seal=FAKE_SEAL):
    """An entry inserted straight as posted under a chosen id, numbered first of its book and month."""
    _sql("INSERT INTO ledger_journalentry (id, book_id, period_id, date, fiscal_year, number, month_number, seq,"
         " status, memo, source, content_digest, made_by_id, reviewed_by_id, created_at, posted_at, prev_hash, hash)"
         " VALUES (%s, %s, %s, '2015-05-06', 2015, 1, 1, 1, %s, 'raw', 'sql', '', %s, %s,"
         " '2015-05-06 10:00:00+00:00', '2015-05-06 10:00:00+00:00', '', %s)",
         [entry_id, book.pk, period.pk, status, made_by.pk, reviewed_by.pk, seal])


def _lines_then_entry(book, period, lines, **entry):
    """As the posting service writes a voucher: its lines under an id not yet used, then the entry, in one
    transaction (the lines' foreign key to their entry is checked at commit)."""
    entry_id = (JournalEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1000
    with transaction.atomic(), connection.cursor() as cursor:
        for n, (account_id, book_id, dr, cr) in enumerate(lines, start=1):
            cursor.execute("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen,"
                           " memo, counterparty) VALUES (%s, %s, %s, %s, %s, %s, '', '')",
                           [entry_id, book_id, n, account_id, dr, cr])
        _insert_posted(book, period, entry_id, **entry)
    return entry_id


def test_an_entry_inserted_as_posted_is_checked_as_one_turning_posted(fund_book, insurer_book, maker, reviewer):
    """The posting service inserts new vouchers posted, their lines first: by SQL, that path holds every
    rule the draft → posted path holds, and nothing of a refused attempt stays."""
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    people = {"made_by": maker, "reviewed_by": reviewer}
    expense, bank = _account_id(fund_book, "5101"), _account_id(fund_book, "1004")
    with pytest.raises(IntegrityError, match="at least two postings"):
        _insert_posted(fund_book, may, 990001, **people)
    with pytest.raises(IntegrityError, match="debits equal credits"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 400)], **people)
    with pytest.raises(IntegrityError, match="maker and a different reviewer|entry_reviewer_not_maker"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 500)],
                          made_by=maker, reviewed_by=maker)
    with pytest.raises(IntegrityError, match="sealed"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 500)],
                          seal="", **people)
    # A line of the insurer's book slipped under the fund's voucher: refused when the entry arrives.
    foreign = _account_id(insurer_book, "1002")
    with pytest.raises(IntegrityError, match="account of that book"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (foreign, insurer_book.pk, 0, 500)],
                          **people)
    with pytest.raises(IntegrityError, match="account of that book"):  # the same under a draft
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (foreign, insurer_book.pk, 0, 500)],
                          status="draft", **people)
    # The same account under the fund's book id, and a parent account: refused as the lines go in.
    with pytest.raises(IntegrityError, match="account of that book"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (foreign, fund_book.pk, 0, 500)],
                          **people)
    may_i, parent = Period.objects.get(book=insurer_book, year=2015, month=5), _account_id(insurer_book, "2241")
    with pytest.raises(IntegrityError, match="leaf accounts"):
        _lines_then_entry(insurer_book, may_i, [(foreign, insurer_book.pk, 500, 0), (parent, insurer_book.pk, 0, 500)],
                          **people)
    with pytest.raises(IntegrityError, match="inserted as a draft, or posted"):
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 500)],
                          status="approved", **people)
    assert not JournalEntry.objects.filter(book=fund_book).exists()
    assert not Posting.objects.filter(book=fund_book).exists()
    # Balanced, signed by two, numbered, chained and sealed: the database takes it (only verify_ledger,
    # holding the key, can tell the seal is not ours).
    entry_id = _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 500)],
                                 **people)
    assert JournalEntry.objects.get(pk=entry_id).status == "posted"
    assert "added only to a draft" in _refused(
        "INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
        " VALUES (%s, %s, 3, %s, 1, 0, '', '')", [entry_id, fund_book.pk, expense])


def test_lines_whose_entry_never_comes_are_refused_by_the_deferred_foreign_key(fund_book):
    # Lines may go in before their entry (the posting service's order); their foreign key, checked at commit,
    # refuses them if the entry never comes. Checked here as the commit would (SET CONSTRAINTS ALL IMMEDIATE on
    # PostgreSQL, PRAGMA foreign_key_check on SQLite): the test's own transaction never commits.
    expense = _account_id(fund_book, "5101")
    with pytest.raises(IntegrityError, match="999999"), transaction.atomic():
        _sql("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo,"
             " counterparty) VALUES (999999, %s, 1, %s, 500, 0, '', '')", [fund_book.pk, expense])
        connection.check_constraints(table_names=["ledger_posting"])
    assert not Posting.objects.filter(entry_id=999999).exists()


def test_nothing_enters_or_posts_into_a_closed_period(fund_book, maker, reviewer):
    draft = entry_draft_save(book=fund_book, date=date(2015, 6, 3), memo="六月", lines=premium_lines("5.00"),
                             made_by=maker)
    _sql("UPDATE ledger_journalentry SET reviewed_by_id = %s WHERE id = %s", [reviewer.pk, draft.pk])
    june = Period.objects.get(book=fund_book, year=2015, month=6)
    # Closed behind the services' back, with a draft still inside.
    _sql("UPDATE ledger_period SET status = 'closed' WHERE id = %s", [june.pk])
    assert "open period" in _refused(
        "UPDATE ledger_journalentry SET status = 'posted', number = 1, month_number = 1, seq = 1, posted_at = %s,"
        " prev_hash = '', hash = %s WHERE id = %s", ["2015-06-03 10:00:00+00:00", FAKE_SEAL, draft.pk])
    with pytest.raises(IntegrityError, match="open period"):
        _raw_draft(fund_book, june, date(2015, 6, 4))
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_an_entry_dated_outside_its_period_is_refused(fund_book):
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    with pytest.raises(IntegrityError, match="containing its date"):
        _raw_draft(fund_book, may, date(2015, 7, 1))


def test_a_year_closed_period_stays_final(fund_book):
    year_close(book=fund_book, year=2015)
    january = Period.objects.get(book=fund_book, year=2015, month=1)
    assert "final" in _refused("UPDATE ledger_period SET status = 'open' WHERE id = %s", [january.pk])
    assert "never deleted" in _refused("DELETE FROM ledger_period WHERE id = %s", [january.pk])


def test_postings_go_to_leaf_accounts_of_the_entrys_own_book(fund_book, insurer_book):
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    draft = _raw_draft(fund_book, may)
    with pytest.raises(IntegrityError, match="book"):
        _raw_posting(draft, _account_id(insurer_book, "1002"), 1, 100, 0)
    may_i = Period.objects.get(book=insurer_book, year=2015, month=5)
    insurer_draft = _raw_draft(insurer_book, may_i)
    with pytest.raises(IntegrityError, match="leaf accounts"):
        _raw_posting(insurer_draft, _account_id(insurer_book, "2241"), 1, 0, 100)


def test_an_account_with_postings_keeps_its_code_and_takes_no_sub_accounts(fund_book, posted_premium):
    acc = fund_book.accounts.get(code="5101")
    assert "keeps its book, code and parent" in _refused(
        "UPDATE accounts_account SET code = '5199' WHERE id = %s", [acc.pk])
    assert "cannot take sub-accounts" in _refused(
        "INSERT INTO accounts_account (book_id, code, name, type, normal_side, parent_id, source)"
        " VALUES (%s, '510101', '人保', 'expense', 'debit', %s, '')", [fund_book.pk, acc.pk])
    _sql("UPDATE accounts_account SET name = '大病保险支出（更名）' WHERE id = %s", [acc.pk])  # a name may change


def test_rows_named_by_lines_and_vouchers_are_never_deleted_or_renumbered(fund_book, posted_premium):
    """PostgreSQL checks the lines' accounts and the vouchers' book and people per statement, without
    foreign keys (migration 0014): the rows they name refuse deletion themselves. SQLite keeps its keys."""
    named = {
        "accounts_account": fund_book.accounts.get(code="5101").pk,
        "accounts_book": fund_book.pk,
        "auth_user": posted_premium.made_by_id,
    }
    postgres = connection.vendor == "postgresql"
    for table, pk in named.items():
        text = refused_by_commit(f"DELETE FROM {table} WHERE id = %s", [pk])
        if postgres:
            assert "stays, under" in text, text
        if postgres or table != "auth_user":  # SQLite: the user's id is not guarded by a trigger, only by keys
            text = refused_by_commit(f"UPDATE {table} SET id = id + 100000 WHERE id = %s", [pk])
            if postgres:
                assert "stays, under" in text, text
    assert Posting.objects.filter(entry=posted_premium).count() == 2
    assert JournalEntry.objects.get(pk=posted_premium.pk).made_by_id == named["auth_user"]
    if postgres:
        # TRUNCATE … CASCADE followed the keys to the vouchers; without them, the table refuses itself.
        _sql("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred check of the test's transaction
        assert "never truncated" in _refused("TRUNCATE auth_user CASCADE")
    # Rows nothing names still go as before: a person who never signed a voucher.
    from django.contrib.auth import get_user_model

    idle = get_user_model().objects.create(username="idle-clerk")
    _sql("DELETE FROM auth_user WHERE id = %s", [idle.pk])


def test_a_line_or_voucher_naming_a_row_that_does_not_exist_is_refused(fund_book, maker, reviewer):
    may = Period.objects.get(book=fund_book, year=2015, month=5)
    draft = _raw_draft(fund_book, may)
    missing = 987654
    text = refused_by_commit(
        "INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
        " VALUES (%s, %s, 1, %s, 100, 0, '', '')", [draft.pk, fund_book.pk, missing])
    if connection.vendor == "postgresql":
        assert "does not exist" in text, text
    for column in ("made_by_id", "reviewed_by_id", "supervisor_id"):
        text = refused_by_commit(f"UPDATE ledger_journalentry SET {column} = %s WHERE id = %s", [missing, draft.pk])
        if connection.vendor == "postgresql":
            assert f"names user {missing}" in text, text
    # A draft line moved to an account that does not exist: refused by the row guard (its book is no book).
    _raw_posting(draft, _account_id(fund_book, "5101"), 1, 100, 0)
    line = Posting.objects.get(entry=draft)
    refused_by_commit("UPDATE ledger_posting SET account_id = %s WHERE id = %s", [missing, line.pk])
    assert Posting.objects.get(pk=line.pk).account_id == _account_id(fund_book, "5101")
    # A voucher inserted posted whose lines and people are real, under a maker who does not exist: refused.
    expense, bank = _account_id(fund_book, "5101"), _account_id(fund_book, "1004")
    ghost = SimpleNamespace(pk=missing)
    with pytest.raises(IntegrityError), transaction.atomic():
        _lines_then_entry(fund_book, may, [(expense, fund_book.pk, 500, 0), (bank, fund_book.pk, 0, 500)],
                          made_by=ghost, reviewed_by=reviewer)
        connection.check_constraints()
    assert not JournalEntry.objects.filter(book=fund_book, status="posted").exists()


def test_a_draft_with_lines_and_a_period_with_entries_stay(fund_book, maker):
    """Without foreign keys to them on PostgreSQL (migration 0015), a draft voucher refuses deletion while
    its lines stand, and a period while vouchers name it; SQLite's keys refuse the same at commit."""
    draft = entry_draft_save(book=fund_book, date=date(2015, 6, 3), memo="六月", lines=premium_lines("5.00"),
                             made_by=maker)
    postgres = connection.vendor == "postgresql"
    for statement in ("DELETE FROM ledger_journalentry WHERE id = %s",
                      "UPDATE ledger_journalentry SET id = id + 100000 WHERE id = %s"):
        text = refused_by_commit(statement, [draft.pk])
        if postgres:
            assert "has postings" in text, text
    text = refused_by_commit("DELETE FROM ledger_period WHERE id = %s", [draft.period_id])
    if postgres:
        assert "has entries" in text, text
    assert Posting.objects.filter(entry=draft).count() == 2
    # Through the application the draft goes with its lines, as before.
    from ledger.services import entry_draft_delete

    entry_draft_delete(entry=draft, by=maker)
    assert not JournalEntry.objects.filter(pk=draft.pk).exists() and not Posting.objects.filter(entry_id=draft.pk).exists()


def test_the_record_of_lines_awaiting_their_entry_cannot_be_altered_or_removed(fund_book):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps the lines' foreign key")
    expense = _account_id(fund_book, "5101")
    insert = ("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo,"
              " counterparty) VALUES (888888, %s, 1, %s, 500, 0, '', '')")
    with pytest.raises(IntegrityError, match="never changes"), transaction.atomic():
        _sql(insert, [fund_book.pk, expense])
        _sql("UPDATE ledger_lines_awaiting SET entry_ids = '{}'")
    with pytest.raises(IntegrityError, match="removed before the commit"), transaction.atomic():
        _sql(insert, [fund_book.pk, expense])
        _sql("DELETE FROM ledger_lines_awaiting")
        connection.check_constraints()
    assert not Posting.objects.filter(entry_id=888888).exists()


def _raw_sql_guards():
    from importlib import import_module

    return import_module("ledger.migrations.0006_raw_sql_guards")


def test_every_guard_is_installed_after_all_migrations(db):
    # A SQLite migration that rebuilds a table drops its triggers silently.
    raw = _raw_sql_guards()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'ledger_%%'")
            expected = {"ledger_posting_guard", "ledger_posting_guard_insert", "ledger_entry_guard",
                        "ledger_entry_guard_posting", "ledger_period_guard", "ledger_account_guard"}
            # ledger_entry_guard_posting also holds the two people of a posted entry (migration 0005) and the
            # numbering and chain of a posted entry (migration 0006).
            expected |= {"ledger_entry_no_truncate", "ledger_posting_no_truncate", "ledger_period_no_truncate",
                         "ledger_balance_no_truncate", "ledger_period_history_no_truncate",
                         "ledger_account_no_truncate", "ledger_book_no_truncate", "ledger_period_guard_insert",
                         "ledger_period_history", "ledger_period_history_guard", "ledger_balance_guard",
                         "ledger_account_guard_kind", "ledger_book_guard"}
            # Migrations 0008 and 0009: opening balances and voucher attachments, frozen once sealed.
            expected |= {"ledger_entry_guard_month_number",  # migration 0010: numbered in the month, in date order
                         "ledger_opening_guard", "ledger_opening_line_guard", "ledger_opening_no_truncate",
                         "ledger_opening_line_no_truncate", "ledger_attachment_guard", "ledger_attachment_no_truncate"}
            # Migration 0013: entries inserted posted are checked as those turning posted, and their lines.
            expected |= {"ledger_entry_guard_inserted", "ledger_entry_guard_posting_insert",
                         "ledger_entry_guard_month_number_insert"}
            # Migration 0014: references checked per statement; the rows named refuse deletion themselves.
            expected |= {"ledger_entry_guard_references_insert", "ledger_entry_guard_references_update",
                         "ledger_account_guard_named", "ledger_book_guard_named", "ledger_user_guard_named",
                         "ledger_user_no_truncate"}
            # Migration 0015: lines written before their entry await it, checked at commit; entries with
            # lines and periods with entries refuse deletion themselves.
            expected |= {"ledger_lines_awaiting_guard", "ledger_lines_awaiting_check", "ledger_entry_guard_named",
                         "ledger_period_guard_named"}
            # Migration 0020: the counterparty names kept from the lines, never renamed nor lost while named.
            expected |= {"ledger_posting_counterparty_insert", "ledger_posting_counterparty_update",
                         "ledger_counterparty_guard", "ledger_counterparty_no_truncate"}
            assert set(raw.POSTGRES_TRIGGERS) <= expected
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ledger_%'")
            expected = {f"ledger_{t}_guard_{op}" for t in ("posting", "entry") for op in ("insert", "update", "delete")}
            expected |= {"ledger_period_guard_update", "ledger_period_guard_delete",
                         "ledger_account_guard_insert", "ledger_account_guard_update", "ledger_entry_guard_people"}
            # Migration 0006: REPLACE refused on every guarded table, and the rest of the raw-SQL paths.
            expected |= {f"ledger_{t}_no_replace_{op}" for t in ("entry", "posting", "period", "account", "book",
                                                                 "period_history") for op in ("insert", "update")}
            expected |= {"ledger_balance_no_replace_update", "ledger_entry_guard_seal", "ledger_period_guard_insert",
                         "ledger_period_guard_delete_used", "ledger_period_history",
                         "ledger_period_history_guard_insert", "ledger_period_history_guard_update",
                         "ledger_period_history_guard_delete", "ledger_balance_guard_insert",
                         "ledger_balance_guard_replaced", "ledger_balance_guard_update",
                         "ledger_balance_guard_updated", "ledger_balance_guard_delete", "ledger_account_guard_kind",
                         "ledger_account_guard_delete", "ledger_book_guard_update", "ledger_book_guard_delete"}
            # Migrations 0008 and 0009: opening balances and voucher attachments, frozen once sealed.
            expected |= {f"ledger_{t}_guard_{op}" for t in ("opening", "opening_line", "attachment")
                         for op in ("insert", "update", "delete")}
            expected.add("ledger_entry_guard_month_number")  # migration 0010: numbered in the month, in date order
            expected.add("ledger_entry_guard_posted_insert")  # migration 0013: inserted posted, checked as posted
            # Migration 0020: the counterparty names kept from the lines, never renamed nor lost while named.
            expected |= {"ledger_posting_counterparty_insert", "ledger_posting_counterparty_update",
                         "ledger_counterparty_guard_update", "ledger_counterparty_guard_delete"}
            assert set(raw.SQLITE_TRIGGERS) <= expected
        assert {row[0] for row in cursor.fetchall()} == expected
        if connection.vendor == "postgresql":
            # Each trigger on the table it guards (a name alone could sit on another table).
            cursor.execute("SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                           " WHERE NOT t.tgisinternal AND t.tgname = ANY(%s)", [list(raw.POSTGRES_TRIGGERS)])
            assert dict(cursor.fetchall()) == raw.POSTGRES_TRIGGERS


def test_every_audit_trail_guard_is_installed_after_all_migrations(db):
    # The trail's own table must never be rebuilt on SQLite (its triggers would go); other audit tables
    # (the chain's links) may add guards of their own, so this asks for these at least.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                           " WHERE NOT t.tgisinternal AND c.relname = 'audit_auditevent'")
            expected = {"audit_event_append_only", "audit_event_guard_insert", "audit_event_no_truncate"}
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_auditevent'")
            expected = {"audit_event_no_update", "audit_event_no_delete", "audit_event_guard_insert"}
        assert expected <= {row[0] for row in cursor.fetchall()}


def _next_entry_id() -> int:
    """The id the posting service will reserve next for a new voucher."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence('ledger_journalentry', 'id')")
            (sequence,) = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last, called = cursor.fetchone()
            return last + 1 if called else last
        cursor.execute("SELECT max(coalesce((SELECT max(id) FROM ledger_journalentry), 0),"
                       " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'ledger_journalentry'), 0))")
        return cursor.fetchone()[0] + 1


def test_a_line_planted_under_the_next_vouchers_id_is_refused_not_absorbed(fund_book, signed):
    # A balanced pair of lines slipped in beforehand under the id the next voucher will get (the foreign key
    # to its entry is checked only at commit; the sqlite3 shell does not check it at all): without a check the
    # voucher would post with them, its balance still even.
    from core.errors import Refused
    from ledger.services import entry_post

    planted = _next_entry_id()
    income, bank = _account_id(fund_book, "3001"), _account_id(fund_book, "1004")
    for line, account, dr, cr in ((7, bank, 99900, 0), (8, income, 0, 99900)):
        _sql("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo,"
             " counterparty) VALUES (%s, %s, %s, %s, %s, %s, '', '')", [planted, fund_book.pk, line, account, dr, cr])
    with pytest.raises(Refused) as refused:
        entry_post(book=fund_book, date=date(2015, 5, 6), memo="拨付五月", lines=premium_lines("5.00"), **signed)
    assert "2 lines written there beforehand" in str(refused.value.problems)
    assert not JournalEntry.objects.filter(book=fund_book).exists()
    _sql("DELETE FROM ledger_posting WHERE entry_id = %s", [planted])  # the planted lines' commit would fail
