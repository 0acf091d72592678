"""What a claim names stays: raw SQL cannot leave a claim pointing at nothing.

On PostgreSQL a statement trigger checks and locks the batches, books, contract years, hospitals and
summaries an import's claims name (migrations claims 0011, 0012), and those rows refuse deletion while
claims name them; SQLite keeps its foreign keys, checked here as its commit would, and checks the summary
by triggers. A posted summary (the voucher its claims are carried by) never changes.
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
               "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel", "charged_to_id",
               "summary_id")
    for column in ("batch_id", "book_id", "contract_year_id", "charged_to_id", "hospital_id", "summary_id"):
        # A copy of an imported claim under a new number, naming a row that does not exist.
        values = ", ".join("%s" if c == column else ("'X-' || claim_no" if c == "claim_no" else c) for c in columns)
        text = refused_by_commit(f"INSERT INTO claims_claim ({', '.join(columns)}) SELECT {values} FROM claims_claim"
                                  " WHERE id = %s", [987654, imported.pk])
        if postgres:
            assert f"names {column} 987654" in text, text
        elif column == "summary_id":
            assert "names a claims summary that does not exist" in text, text
        text = refused_by_commit(f"UPDATE claims_claim SET {column} = 987654 WHERE id = %s", [imported.pk])
        if postgres:
            assert f"names {column} 987654" in text, text
        elif column == "summary_id":
            assert "names a claims summary that does not exist" in text, text
    claim = Claim.objects.get(pk=imported.pk)
    assert (claim.batch_id, claim.hospital_id, claim.summary_id) == (
        imported.batch_id, imported.hospital_id, imported.summary_id)
    assert not Claim.objects.filter(claim_no__startswith="X-").exists()


def test_the_rows_claims_name_are_never_deleted_renumbered_or_truncated(imported):
    postgres = connection.vendor == "postgresql"
    named = {"claims_claimbatch": imported.batch_id, "claims_hospital": imported.hospital_id,
             "contracts_contractyear": imported.contract_year_id, "accounts_book": imported.book_id,
             "claims_claimsummary": imported.summary_id}
    for table, pk in named.items():
        for statement in (f"DELETE FROM {table} WHERE id = %s", f"UPDATE {table} SET id = id + 100000 WHERE id = %s"):
            text = refused_by_commit(statement, [pk])
            if postgres:
                assert "stays, under its id" in text, text
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in ("claims_claimbatch", "claims_hospital", "contracts_contractyear", "claims_claimsummary"):
            assert "never truncated" in refused_by_commit(f"TRUNCATE {table} CASCADE")
    assert Claim.objects.filter(pk=imported.pk, batch_id=imported.batch_id, hospital_id=imported.hospital_id).exists()


def test_a_posted_summary_never_changes_nor_is_replaced(imported, jincheng_people):
    from claims.models import ClaimSummary
    from claims.services import claims_post

    summary = imported.summary
    assert summary is not None and summary.entry_id is None  # not posted yet
    other = ClaimSummary.objects.exclude(pk=summary.pk).filter(batch=summary.batch).first()
    if connection.vendor == "sqlite":  # REPLACE would delete the colliding summary without its delete trigger
        text = refused_by_commit(
            "INSERT OR REPLACE INTO claims_claimsummary (id, batch_id, contract_year_id, year, month, hospital_id, "
            "channel) SELECT id, batch_id, contract_year_id, year, month, hospital_id, channel "
            "FROM claims_claimsummary WHERE id = %s", [summary.pk])
        assert "REPLACE is refused" in text, text
        text = refused_by_commit("UPDATE OR REPLACE claims_claimsummary SET id = %s WHERE id = %s",
                                 [summary.pk, other.pk])
        assert "stays, under its id" in text or "REPLACE is refused" in text, text
    claims_post(batch=summary.batch, reviewed_by=jincheng_people["insurer"][1])
    summary, other = ClaimSummary.objects.exclude(entry=None).order_by("id")[:2]
    claim = summary.claims.first()
    assert claim.posted_entry == summary.entry
    for change in ("entry_id = NULL", f"entry_id = {other.entry_id}", "hospital_id = hospital_id",
                   "month = CASE WHEN month = 12 THEN 1 ELSE month + 1 END"):
        text = refused_by_commit(f"UPDATE claims_claimsummary SET {change} WHERE id = %s", [summary.pk])
        assert "posted" in text and "never changes" in text, (change, text)
    assert ClaimSummary.objects.get(pk=summary.pk).entry_id == summary.entry_id
