"""What a claim names stays: raw SQL cannot leave a claim pointing at nothing.

On PostgreSQL a statement trigger checks and locks the batches, books, contract years and hospitals an
import's claims name (migration claims 0011), and those rows refuse deletion while claims name them;
SQLite keeps its foreign keys, checked here as its commit would.
"""

import pytest
from django.db import connection

from bench.claims_data import write_claims
from claims.models import Claim
from claims.policies import policy_get
from claims.services import claims_import
from contracts.models import ContractYear
from tests.conftest import refused_by_commit


@pytest.fixture
def imported(jincheng_people, tmp_path):
    cy = ContractYear.objects.get(contract__code="JC-2019")
    write_claims(tmp_path / "y.csv", n_claims=40, year=2019, policy=policy_get(code="shanxi-2019"), wrong=0,
                 hospitals=3, seed=5, late_share=0)
    claims_import(path=tmp_path / "y.csv", contract=cy.contract, by=jincheng_people["insurer"][0])
    return Claim.objects.order_by("id").first()


def test_a_claim_naming_a_row_that_does_not_exist_is_refused(imported):
    postgres = connection.vendor == "postgresql"
    columns = ("batch_id", "book_id", "contract_year_id", "claim_no", "person", "group_code", "admitted_on",
               "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel", "charged_to_id")
    for column in ("batch_id", "book_id", "contract_year_id", "charged_to_id", "hospital_id"):
        # A copy of an imported claim under a new number, naming a row that does not exist.
        values = ", ".join("%s" if c == column else ("'X-' || claim_no" if c == "claim_no" else c) for c in columns)
        text = refused_by_commit(f"INSERT INTO claims_claim ({', '.join(columns)}) SELECT {values} FROM claims_claim"
                                  " WHERE id = %s", [987654, imported.pk])
        if postgres:
            assert f"names {column} 987654" in text, text
        text = refused_by_commit(f"UPDATE claims_claim SET {column} = 987654 WHERE id = %s", [imported.pk])
        if postgres:
            assert f"names {column} 987654" in text, text
    claim = Claim.objects.get(pk=imported.pk)
    assert (claim.batch_id, claim.hospital_id) == (imported.batch_id, imported.hospital_id)
    assert not Claim.objects.filter(claim_no__startswith="X-").exists()


def test_the_rows_claims_name_are_never_deleted_renumbered_or_truncated(imported):
    postgres = connection.vendor == "postgresql"
    named = {"claims_claimbatch": imported.batch_id, "claims_hospital": imported.hospital_id,
             "contracts_contractyear": imported.contract_year_id, "accounts_book": imported.book_id}
    for table, pk in named.items():
        for statement in (f"DELETE FROM {table} WHERE id = %s", f"UPDATE {table} SET id = id + 100000 WHERE id = %s"):
            text = refused_by_commit(statement, [pk])
            if postgres:
                assert "stays, under its id" in text, text
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in ("claims_claimbatch", "claims_hospital", "contracts_contractyear"):
            assert "never truncated" in refused_by_commit(f"TRUNCATE {table} CASCADE")
    assert Claim.objects.filter(pk=imported.pk, batch_id=imported.batch_id, hospital_id=imported.hospital_id).exists()
