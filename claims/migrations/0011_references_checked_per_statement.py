"""PostgreSQL: what a claim names is checked once per statement by a guard instead of five foreign keys.

A foreign key is a lookup and a share lock per claim: at 200,000 claims the keys of batch, insurer book,
contract year, year charged to and hospital were 5.9 s of a 14.4 s import (the same few rows each time).
Now one statement trigger locks the few rows an import's claims name (FOR KEY SHARE, as a key would,
so that none is deleted before the import commits) and refuses the statement if any is missing; a claim
changed to name another row is checked by a row trigger that fires only when one of those columns
changes; and the rows named refuse deletion, a new id or TRUNCATE while claims name them, as the keys
did. The claim's voucher (posted_entry) keeps its key. SQLite keeps all its keys.
"""

from django.db import migrations, models

from core.migrations_sql import run_by_vendor

# column → table it names
_NAMED = {
    "batch_id": "claims_claimbatch",
    "book_id": "accounts_book",
    "contract_year_id": "contracts_contractyear",
    "charged_to_id": "contracts_contractyear",
    "hospital_id": "claims_hospital",
}

_DROP_KEYS = "DO $$ DECLARE c record; BEGIN FOR c IN " + (
    "SELECT con.conname FROM pg_constraint con JOIN pg_attribute a"
    " ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]"
    " WHERE con.contype = 'f' AND con.conrelid = 'claims_claim'::regclass AND a.attname IN ("
    + ", ".join(f"'{c}'" for c in _NAMED) + ")"
) + " LOOP EXECUTE format('ALTER TABLE claims_claim DROP CONSTRAINT %I', c.conname); END LOOP; END $$"


def _checks(source: str, named: dict = _NAMED) -> str:
    """Lock and look for every row the claims in `source` name: one pass over them gathers the distinct ids
    of each column, then one lock and one look per row named, not per claim. (`named`: claims 0012 adds the
    summary.)"""
    out = [f"\n    SELECT {', '.join(f'array_agg(DISTINCT {c})' for c in named)}"
           f" INTO {', '.join(f'ids_{c}' for c in named)} FROM {source};"]
    for column, table in named.items():
        out.append(f"""
    PERFORM 1 FROM {table} r WHERE r.id = ANY(ids_{column}) FOR KEY SHARE OF r;
    SELECT x.id INTO bad FROM unnest(ids_{column}) AS x(id)
    WHERE x.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.id = x.id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('a claim names {column} %s, which does not exist in {table}', bad.id));
    END IF;""")
    return "".join(out)


_DECLARE = "".join(f"\n    ids_{c} bigint[];" for c in _NAMED)

_INSERTED = f"""
CREATE FUNCTION claims_claim_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;{_DECLARE}
BEGIN{_checks("inserted")}
    RETURN NULL;
END $$
"""

_CHANGED = f"""
CREATE FUNCTION claims_claim_references_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;{_DECLARE}
BEGIN{_checks("(SELECT NEW.*) AS changed")}
    RETURN NEW;
END $$
"""

_GUARD = """
CREATE FUNCTION claims_named_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF (TG_TABLE_NAME = 'claims_claimbatch' AND EXISTS (SELECT 1 FROM claims_claim WHERE batch_id = OLD.id))
       OR (TG_TABLE_NAME = 'accounts_book' AND EXISTS (SELECT 1 FROM claims_claim WHERE book_id = OLD.id))
       OR (TG_TABLE_NAME = 'claims_hospital' AND EXISTS (SELECT 1 FROM claims_claim WHERE hospital_id = OLD.id))
       OR (TG_TABLE_NAME = 'contracts_contractyear'
           AND (EXISTS (SELECT 1 FROM claims_claim WHERE contract_year_id = OLD.id)
                OR EXISTS (SELECT 1 FROM claims_claim WHERE charged_to_id = OLD.id))) THEN
        PERFORM ledger_refuse(format('%s %s is named by claims and stays, under its id', TG_TABLE_NAME, OLD.id));
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""

_NO_TRUNCATE = """
CREATE FUNCTION claims_named_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM claims_claim) THEN
        PERFORM ledger_refuse(format('%s is never truncated while claims name its rows', TG_TABLE_NAME));
    END IF;
    RETURN NULL;
END $$
"""

_GUARDED = {"batch": "claims_claimbatch", "book": "accounts_book", "hospital": "claims_hospital",
            "contract_year": "contracts_contractyear"}

POSTGRES = [
    _DROP_KEYS,
    _INSERTED,
    "CREATE TRIGGER claims_claim_references AFTER INSERT ON claims_claim REFERENCING NEW TABLE AS inserted "
    "FOR EACH STATEMENT EXECUTE FUNCTION claims_claim_references()",
    _CHANGED,
    f"CREATE TRIGGER claims_claim_references_changed BEFORE UPDATE OF {', '.join(_NAMED)} ON claims_claim "
    "FOR EACH ROW EXECUTE FUNCTION claims_claim_references_changed()",
    _GUARD,
    *(f"CREATE TRIGGER claims_{name}_guard_named BEFORE DELETE OR UPDATE OF id ON {table} "
      "FOR EACH ROW EXECUTE FUNCTION claims_named_guard()" for name, table in _GUARDED.items()),
    _NO_TRUNCATE,
    *(f"CREATE TRIGGER claims_{name}_no_truncate BEFORE TRUNCATE ON {table} "
      "FOR EACH STATEMENT EXECUTE FUNCTION claims_named_no_truncate()"
      for name, table in _GUARDED.items() if table != "accounts_book"),  # the book refuses any TRUNCATE already
]

POSTGRES_DROP = [
    *(f"DROP TRIGGER IF EXISTS claims_{name}_no_truncate ON {table}" for name, table in _GUARDED.items()),
    "DROP FUNCTION IF EXISTS claims_named_no_truncate()",
    *(f"DROP TRIGGER IF EXISTS claims_{name}_guard_named ON {table}" for name, table in _GUARDED.items()),
    "DROP FUNCTION IF EXISTS claims_named_guard()",
    "DROP TRIGGER IF EXISTS claims_claim_references_changed ON claims_claim",
    "DROP FUNCTION IF EXISTS claims_claim_references_changed()",
    "DROP TRIGGER IF EXISTS claims_claim_references ON claims_claim",
    "DROP FUNCTION IF EXISTS claims_claim_references()",
    *(f"ALTER TABLE claims_claim ADD FOREIGN KEY ({column}) REFERENCES {table} (id) DEFERRABLE INITIALLY DEFERRED"
      for column, table in _NAMED.items()),
]


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0010_no_redundant_indexes"),
        ("contracts", "0008_assigned_regions"),
        ("accounts", "0004_book_supervisor"),
        ("ledger", "0016_entry_checks_in_fewer_passes"),  # ledger_refuse
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES}, "claims' references checked per statement"),
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES_DROP}, "claims' references checked per statement"),
            )],
            state_operations=[
                migrations.AlterField(model_name="claim", name="batch", field=models.ForeignKey(
                    "claims.claimbatch", models.PROTECT, related_name="claims", verbose_name="batch",
                    db_constraint=False)),
                migrations.AlterField(model_name="claim", name="book", field=models.ForeignKey(
                    "accounts.book", models.PROTECT, related_name="+", verbose_name="insurer book", db_index=False,
                    db_constraint=False)),
                migrations.AlterField(model_name="claim", name="contract_year", field=models.ForeignKey(
                    "contracts.contractyear", models.PROTECT, related_name="claims", verbose_name="contract year",
                    db_index=False, db_constraint=False)),
                migrations.AlterField(model_name="claim", name="charged_to", field=models.ForeignKey(
                    "contracts.contractyear", models.PROTECT, null=True, blank=True, related_name="charged_claims",
                    verbose_name="charged to", db_constraint=False)),
                migrations.AlterField(model_name="claim", name="hospital", field=models.ForeignKey(
                    "claims.hospital", models.PROTECT, related_name="claims", verbose_name="hospital",
                    db_constraint=False)),
            ],
        ),
    ]
