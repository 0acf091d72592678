"""PostgreSQL: what six foreign keys checked row by row, the guards check once per statement (issue 16).

A foreign key is a trigger per inserted row: a lookup of the referenced row and a share lock on it. At
100,000 vouchers (237,000 lines) the checks of the lines' book and account and of the vouchers' book,
maker, reviewer and 会计主管 were 4.6 s of a 22 s posting, each the same few rows looked up again. The
statement triggers that already join each line to its account and book (migration 0013) now also lock
and find every row those columns name, once per statement; and the rows referred to refuse their own
deletion (or a change of id) while a line or voucher names them, as the keys did:

- a line's account exists (and stays, key-share locked, until the transaction ends); a line's book and its
  account's book are its voucher's book (unchanged: 0002, 0013);
- a voucher's book and the people it names (制单, 审核, 会计主管) exist and stay, on insert and update;
- an account with lines, a book with vouchers or lines, a person named by a voucher is never deleted nor
  renumbered; auth_user is never truncated under vouchers (TRUNCATE … CASCADE followed the keys).

The lines' foreign key to their voucher stays (deferred: the lines go in first and refuse the commit if
their voucher never comes), and so does the voucher's to its period. SQLite keeps all its keys: it checks
them in the engine, cheaply, and its tables are never rebuilt under their triggers.
"""

from django.conf import settings
from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_DROPPED = {
    "ledger_posting": ("book_id", "account_id"),
    "ledger_journalentry": ("book_id", "made_by_id", "reviewed_by_id", "supervisor_id"),
}
_REFERENCED = {
    "book_id": "accounts_book", "account_id": "accounts_account",
    "made_by_id": "auth_user", "reviewed_by_id": "auth_user", "supervisor_id": "auth_user",
}

_DROP_KEYS = "DO $$ DECLARE c record; BEGIN FOR c IN " + " UNION ALL ".join(
    f"SELECT con.conname, '{table}' AS tbl FROM pg_constraint con JOIN pg_attribute a"
    f" ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]"
    f" WHERE con.contype = 'f' AND con.conrelid = '{table}'::regclass AND a.attname IN ({', '.join(repr(c) for c in columns)})"
    for table, columns in _DROPPED.items()
) + " LOOP EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', c.tbl, c.conname); END LOOP; END $$"

_POSTING_GUARD_INSERT = """
CREATE OR REPLACE FUNCTION ledger_posting_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- Every account named exists and stays until this transaction ends (one lock per account, not per line).
    PERFORM 1 FROM accounts_account c WHERE c.id IN (SELECT account_id FROM inserted) FOR KEY SHARE OF c;
    SELECT n.account_id INTO bad FROM (SELECT DISTINCT account_id FROM inserted) n
    WHERE NOT EXISTS (SELECT 1 FROM accounts_account c WHERE c.id = n.account_id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('posting to account %s, which does not exist', bad.account_id));
    END IF;
    SELECT n.entry_id, e.status INTO bad FROM inserted n LEFT JOIN ledger_journalentry e ON e.id = n.entry_id
    WHERE e.id IS NOT NULL AND e.status <> 'draft' LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('postings are added only to a draft entry (entry %s is %s)',
                                     bad.entry_id, coalesce(bad.status, 'missing')));
    END IF;
    SELECT n.account_id INTO bad FROM inserted n
    JOIN ledger_journalentry e ON e.id = n.entry_id
    LEFT JOIN accounts_account a ON a.id = n.account_id
    WHERE n.book_id IS DISTINCT FROM e.book_id OR a.book_id IS DISTINCT FROM e.book_id LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
    END IF;
    SELECT n.account_id INTO bad FROM inserted n
    WHERE EXISTS (SELECT 1 FROM accounts_account c WHERE c.parent_id = n.account_id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', bad.account_id));
    END IF;
    RETURN NULL;
END $$
"""

# The row guard of a draft's line being changed (migration 0002), its account now looked up under a lock.
_POSTING_GUARD = """
CREATE OR REPLACE FUNCTION ledger_posting_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
    entry_book bigint;
    account_book bigint;
BEGIN
    SELECT status INTO entry_status FROM ledger_journalentry WHERE id = OLD.entry_id;
    IF entry_status = 'posted' THEN
        PERFORM ledger_refuse(format('postings of posted entry %s never change or disappear', OLD.entry_id));
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    SELECT status, book_id INTO entry_status, entry_book FROM ledger_journalentry WHERE id = NEW.entry_id;
    IF entry_status IS DISTINCT FROM 'draft' THEN
        PERFORM ledger_refuse(format('postings of posted entry %s never change', NEW.entry_id));
    END IF;
    SELECT book_id INTO account_book FROM accounts_account WHERE id = NEW.account_id FOR KEY SHARE;
    IF NEW.book_id IS DISTINCT FROM entry_book OR account_book IS DISTINCT FROM entry_book THEN
        PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', NEW.account_id));
    END IF;
    IF EXISTS (SELECT 1 FROM accounts_account WHERE parent_id = NEW.account_id) THEN
        PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', NEW.account_id));
    END IF;
    RETURN NEW;
END $$
"""

_ENTRY_REFERENCES = """
CREATE FUNCTION ledger_entry_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- The few books and people a statement's vouchers name, locked once each (a foreign key locked them
    -- once per voucher) so that none is deleted before this transaction ends.
    PERFORM 1 FROM accounts_book b WHERE b.id IN (SELECT book_id FROM updated) FOR KEY SHARE OF b;
    PERFORM 1 FROM auth_user u WHERE u.id IN (SELECT made_by_id FROM updated UNION SELECT reviewed_by_id FROM updated
                                              UNION SELECT supervisor_id FROM updated) FOR KEY SHARE OF u;
    SELECT a.id, a.book_id INTO bad FROM updated a
    WHERE NOT EXISTS (SELECT 1 FROM accounts_book b WHERE b.id = a.book_id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('entry %s: book %s does not exist', bad.id, bad.book_id));
    END IF;
    SELECT a.id, x.person INTO bad FROM updated a
    CROSS JOIN LATERAL (VALUES (a.made_by_id), (a.reviewed_by_id), (a.supervisor_id)) AS x(person)
    WHERE x.person IS NOT NULL AND NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = x.person) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('entry %s names user %s, who does not exist', bad.id, bad.person));
    END IF;
    RETURN NULL;
END $$
"""

# Rows named by lines and vouchers: never deleted, nor given another id, while named (as the keys held).
_NAMED_GUARD = """
CREATE FUNCTION ledger_named_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF TG_TABLE_NAME = 'accounts_account' AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id) THEN
        PERFORM ledger_refuse(format('account %s has postings and stays, under its id', OLD.id));
    ELSIF TG_TABLE_NAME = 'accounts_book' AND (EXISTS (SELECT 1 FROM ledger_journalentry WHERE book_id = OLD.id)
                                               OR EXISTS (SELECT 1 FROM ledger_posting WHERE book_id = OLD.id)) THEN
        PERFORM ledger_refuse(format('book %s has entries and stays, under its id', OLD.id));
    ELSIF TG_TABLE_NAME = 'auth_user' AND (EXISTS (SELECT 1 FROM ledger_journalentry WHERE made_by_id = OLD.id)
                                           OR EXISTS (SELECT 1 FROM ledger_journalentry WHERE reviewed_by_id = OLD.id)
                                           OR EXISTS (SELECT 1 FROM ledger_journalentry WHERE supervisor_id = OLD.id)) THEN
        PERFORM ledger_refuse(format('user %s is named on vouchers and stays, under the same id', OLD.id));
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""

_USER_NO_TRUNCATE = """
CREATE FUNCTION ledger_user_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_journalentry) THEN
        PERFORM ledger_refuse('auth_user is never truncated while vouchers name its people');
    END IF;
    RETURN NULL;
END $$
"""

POSTGRES = [
    _DROP_KEYS,
    _POSTING_GUARD_INSERT,
    _POSTING_GUARD,
    _ENTRY_REFERENCES,
    "CREATE TRIGGER ledger_entry_guard_references_insert AFTER INSERT ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_references()",
    "CREATE TRIGGER ledger_entry_guard_references_update AFTER UPDATE ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_references()",
    _NAMED_GUARD,
    *(f"CREATE TRIGGER ledger_{name}_guard_named BEFORE DELETE OR UPDATE OF id ON {table} "
      "FOR EACH ROW EXECUTE FUNCTION ledger_named_guard()"
      for name, table in (("account", "accounts_account"), ("book", "accounts_book"), ("user", "auth_user"))),
    _USER_NO_TRUNCATE,
    "CREATE TRIGGER ledger_user_no_truncate BEFORE TRUNCATE ON auth_user "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_user_no_truncate()",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS ledger_user_no_truncate ON auth_user",
    "DROP FUNCTION IF EXISTS ledger_user_no_truncate()",
    *(f"DROP TRIGGER IF EXISTS ledger_{name}_guard_named ON {table}"
      for name, table in (("account", "accounts_account"), ("book", "accounts_book"), ("user", "auth_user"))),
    "DROP FUNCTION IF EXISTS ledger_named_guard()",
    "DROP TRIGGER IF EXISTS ledger_entry_guard_references_insert ON ledger_journalentry",
    "DROP TRIGGER IF EXISTS ledger_entry_guard_references_update ON ledger_journalentry",
    "DROP FUNCTION IF EXISTS ledger_entry_references()",
    # The functions above keep their locks and existence checks: stricter than before, and the keys are back.
    *(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {_REFERENCED[column]} (id) "
      "DEFERRABLE INITIALLY DEFERRED" for table, columns in _DROPPED.items() for column in columns),
]


def _unconstrained(model: str, name: str, field):
    return migrations.AlterField(model_name=model, name=name, field=field)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0013_entries_posted_on_insert"),
        ("accounts", "0004_book_supervisor"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES}, "references checked per statement"),
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES_DROP}, "references checked per statement"),
            )],
            state_operations=[
                _unconstrained("posting", "book", models.ForeignKey(
                    "accounts.book", models.PROTECT, related_name="+", verbose_name="book", db_constraint=False)),
                _unconstrained("posting", "account", models.ForeignKey(
                    "accounts.account", models.PROTECT, related_name="postings", verbose_name="account",
                    db_index=False, db_constraint=False)),
                _unconstrained("journalentry", "book", models.ForeignKey(
                    "accounts.book", models.PROTECT, related_name="entries", verbose_name="book", db_index=False,
                    db_constraint=False)),
                _unconstrained("journalentry", "made_by", models.ForeignKey(
                    settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                    verbose_name="made by (制单)", db_constraint=False)),
                _unconstrained("journalentry", "reviewed_by", models.ForeignKey(
                    settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                    verbose_name="reviewed by (审核)", db_constraint=False)),
                _unconstrained("journalentry", "supervisor", models.ForeignKey(
                    settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                    verbose_name="chief accountant (会计主管)", db_constraint=False)),
            ],
        ),
    ]
