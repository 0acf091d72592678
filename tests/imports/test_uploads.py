"""Uploads with a preview (imports): stage → preview (every row problem, the totals, nothing written) →
confirm (exactly the previewed file, once) or cancel; the admin pages on top; a large file on a real worker.

The files are what accountants send: an 工商银行 CSV export (one with a planted bad row), the same bank's
legacy XLS export with its title rows above the column titles, a camt.053 statement, a Jincheng claims
file and the Jilin top-up table.
"""

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from access.services import user_create
from audit.models import AuditEvent
from bench.claims_data import HEADER
from claims.models import Claim, ClaimBatch
from contracts.models import PremiumObligation
from core.errors import Refused
from imports.models import StagedUpload
from imports.services import upload_cancel, upload_confirm, upload_stage
from reconciliation.models import BankLine, BankStatement

from .counts import table_counts
from .test_bad_values import _claim

FILES = Path(__file__).parent / "files"
PASSWORD = "Upload-上传-2026!x"
FORMULA = "=cmd|' /C calc'!A0"
BANK = {"source": "table", "bank": "工商银行", "year": 2020, "month": 3, "opening": "300,000,000.00",
        "closing": "299,019,980.00"}


def _business_counts() -> dict:
    return {m.__name__: m.objects.count() for m in (BankStatement, BankLine, ClaimBatch, Claim, PremiumObligation)}


def _counts_without_staging() -> dict:
    # Staging keeps the upload and its audit events; nothing else may change before confirmation.
    return {k: v for k, v in table_counts().items()
            if k not in ("imports.StagedUpload", "audit.AuditEvent", "audit.AuditLink", "audit.AuditChain")}


@pytest.fixture
def people(jincheng):
    return {
        "li": user_create(username="li-min", password=PASSWORD, role="fund_accountant", regions=["1405"],
                          full_name="李敏"),
        "other": user_create(username="zhao-fang", password=PASSWORD, role="fund_accountant", regions=["1405"],
                             full_name="赵芳"),
        "liu": user_create(username="liu-yang", password=PASSWORD, role="insurer_accountant",
                           insurers=["CLIC-1405"], full_name="刘洋"),
        "auditor": user_create(username="sun-audit", password=PASSWORD, role="auditor", regions=["1405"],
                               full_name="孙审计"),
        "admin": user_create(username="chief", password=PASSWORD, role="administrator", full_name="钱主任"),
    }


def _stage_bank(user, account, name="icbc_2020_03.csv", **params):
    return upload_stage(kind="bank", params={"account": account.pk, **BANK, **params}, file_name=name,
                        content=(FILES / name).read_bytes(), by=user)


# -- bank statements -------------------------------------------------------------------------------------------

def test_a_planted_bad_row_is_listed_and_nothing_is_written(icbc_account, people):
    before, business = _counts_without_staging(), _business_counts()
    staged = _stage_bank(people["li"], icbc_account, "icbc_2020_03_bad.csv")
    assert staged.status == "refused" and staged.book == icbc_account.book
    assert [(p["row"], p["field"], p["found"]) for p in staged.problems] == [(3, "credit", "1e30")]
    assert "no exponent notation" in staged.problems[0]["expected"]
    assert _counts_without_staging() == before and _business_counts() == business
    # A file with problems cannot be confirmed, however the request is made.
    with pytest.raises(Refused):
        upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    assert _business_counts() == business
    assert AuditEvent.objects.filter(action="upload_refused", object_id=str(staged.pk), digest=staged.sha256).exists()


def test_a_clean_statement_is_previewed_then_imported_once(icbc_account, people):
    business = _business_counts()
    staged = _stage_bank(people["li"], icbc_account)
    assert staged.status == "previewed" and staged.problems == []
    assert staged.preview["figures"] == {"rows": 3, "in": "20000.00", "out": "1000020.00", "opening": "300000000.00",
                                         "closing": "299019980.00", "month": "2020-03", "in_count": 1, "out_count": 2}
    assert _business_counts() == business  # previewed: nothing in the books or the business tables
    assert AuditEvent.objects.filter(action="upload_staged", digest=staged.sha256).count() == 1

    done = upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    assert done.status == "done" and done.result["lines"] == 3
    statement = BankStatement.objects.get()
    assert statement.file_sha256 == staged.sha256 and (statement.year, statement.month) == (2020, 3)
    assert [ln.amount.amount for ln in statement.lines.order_by("line")] == [
        Decimal("-1000000.00"), Decimal("20000.00"), Decimal("-20.00")]
    # The formula is kept as the text it is: never evaluated, never dropped.
    assert statement.lines.get(line=3).description == FORMULA
    assert AuditEvent.objects.filter(action="upload_confirmed", digest=staged.sha256).exists()

    # A double submit: the row is no longer previewed, so nothing more happens.
    after = _business_counts()
    with pytest.raises(Refused):
        upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    # A second tab that uploaded the same file: its preview says so, and confirming creates nothing new.
    again = _stage_bank(people["li"], icbc_account)
    assert again.status == "previewed" and again.preview["already"]
    assert upload_confirm(staged_id=again.pk, by=people["li"], sha256=again.sha256).result["statement"] == statement.pk
    assert _business_counts() == after


def test_only_the_uploader_or_an_administrator_confirms_or_cancels(icbc_account, people):
    staged = _stage_bank(people["li"], icbc_account)
    business = _business_counts()
    for who in ("other", "auditor"):
        with pytest.raises(Refused):
            upload_confirm(staged_id=staged.pk, by=people[who], sha256=staged.sha256)
        with pytest.raises(Refused):
            upload_cancel(staged_id=staged.pk, by=people[who])
    assert AuditEvent.objects.filter(action="access_refused", actor="zhao-fang", object_id=str(staged.pk)).count() == 2
    assert _business_counts() == business
    staged.refresh_from_db()
    assert staged.status == "previewed"
    # A forged digest (another file than the one previewed) is refused too.
    with pytest.raises(Refused):
        upload_confirm(staged_id=staged.pk, by=people["li"], sha256="0" * 64)
    cancelled = upload_cancel(staged_id=staged.pk, by=people["admin"])
    assert cancelled.status == "cancelled" and bytes(StagedUpload.objects.get(pk=staged.pk).content) == b""
    assert AuditEvent.objects.filter(action="upload_cancelled", object_id=str(staged.pk)).exists()
    with pytest.raises(Refused):
        upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    assert _business_counts() == business


def test_an_upload_outside_the_role_or_scope_is_refused(icbc_account, people):
    with pytest.raises(Refused):
        _stage_bank(people["auditor"], icbc_account)  # an auditor changes nothing
    with pytest.raises(Refused):
        _stage_bank(people["liu"], icbc_account)  # the insurer's accountant does not keep the fund's book
    assert not StagedUpload.objects.exists()
    assert AuditEvent.objects.filter(action="access_refused", actor="liu-yang").exists()


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(icbc_account, people, settings):
    settings.UPLOAD_MAX_BYTES = 100
    with pytest.raises(Refused) as info:
        _stage_bank(people["li"], icbc_account)
    assert info.value.problems[0]["field"] == "size"
    assert "UPLOAD_MAX_BYTES" in info.value.problems[0]["expected"]
    assert not StagedUpload.objects.exists()


def test_a_legacy_xls_export_with_title_rows_imports(icbc_account, people):
    staged = _stage_bank(people["li"], icbc_account, "icbc_2020_05.xls", month=5, opening="299,023,745.44",
                         closing="299,031,244.94")
    assert staged.status == "previewed", staged.problems
    assert staged.preview["figures"]["in"] == "10000.00" and staged.preview["figures"]["out"] == "2500.50"
    upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    st = BankStatement.objects.get(month=5)
    assert [(ln.line, str(ln.date), ln.amount.amount) for ln in st.lines.order_by("line")] == [
        (6, "2020-05-06", Decimal("10000.00")), (7, "2020-05-28", Decimal("-2500.50"))]


def test_a_camt053_statement_imports_with_its_balances(icbc_account, people):
    staged = upload_stage(kind="bank", params={"account": icbc_account.pk, "source": "camt053"},
                          file_name="statement_2020_04.camt053.xml",
                          content=(FILES / "statement_2020_04.camt053.xml").read_bytes(), by=people["li"])
    assert staged.status == "previewed", staged.problems
    assert staged.preview["figures"]["opening"] == "299019980.00"
    assert staged.preview["figures"]["closing"] == "299023745.44"
    assert not BankStatement.objects.exists()
    upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    st = BankStatement.objects.get()
    assert (st.year, st.month) == (2020, 4)
    assert [(ln.amount.amount, ln.reference, ln.counterparty) for ln in st.lines.order_by("line")] == [
        (Decimal("5000.00"), "E2E-0408", "中国人寿保险股份有限公司晋城分公司"),
        (Decimal("-1234.56"), "E2E-0420", "晋城市人民医院")]


def test_a_camt053_with_an_entity_or_a_bad_amount_is_refused(icbc_account, people, tmp_path):
    text = (FILES / "statement_2020_04.camt053.xml").read_text()
    xxe = text.replace('<?xml version="1.0" encoding="UTF-8"?>',
                       '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace(
        "<Ustrd>退回多划款</Ustrd>", "<Ustrd>&x;</Ustrd>")
    bad = text.replace("<Amt Ccy=\"CNY\">1234.56</Amt>", "<Amt Ccy=\"CNY\">1e30</Amt>")
    for name, body in (("xxe.xml", xxe), ("bad.xml", bad)):
        staged = upload_stage(kind="bank", params={"account": icbc_account.pk, "source": "camt053"}, file_name=name,
                              content=body.encode(), by=people["li"])
        if name == "xxe.xml" and staged.status == "previewed":
            # The parser does not resolve entities: the file's text stays as sent, /etc/passwd is never read.
            assert "root:" not in str(staged.preview)
        else:
            assert staged.status == "refused"
            assert any(p["found"] == "1e30" for p in staged.problems), staged.problems
    assert not BankStatement.objects.exists()


# -- claims ------------------------------------------------------------------------------------------------------

def _claims_file(tmp_path, rows) -> bytes:
    path = tmp_path / "jincheng_2019_03.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path.read_bytes()


def test_a_claims_file_is_previewed_then_imported_as_a_batch_awaiting_review(jincheng, people, tmp_path):
    contract = jincheng.contract
    before = _business_counts()
    bad = upload_stage(kind="claims", params={"contract": contract.pk}, file_name="c.csv", by=people["liu"],
                       content=_claims_file(tmp_path, [_claim("JC-1"), _claim("JC-2", oop="1e30", hospital_name=FORMULA)]))
    assert bad.status == "refused"
    assert [(p["row"], p["field"], p["found"]) for p in bad.problems] == [(3, "oop", "1e30")]
    staged = upload_stage(kind="claims", params={"contract": contract.pk}, file_name="jincheng_2019_03.csv",
                          by=people["liu"], content=_claims_file(tmp_path, [
                              _claim("JC-1"), _claim("JC-2", hospital_name=FORMULA), _claim("JC-3")]))
    assert staged.status == "previewed" and staged.book.insurer == contract.insurer
    assert staged.preview["figures"] == {"rows": 3, "oop_total": "54000.00", "paid_total": "18000.00"}
    assert _business_counts() == before
    done = upload_confirm(staged_id=staged.pk, by=people["liu"], sha256=staged.sha256)
    batch = ClaimBatch.objects.get()
    assert done.result["batch"] == batch.pk and batch.status == "prepared" and batch.prepared_by == people["liu"]
    assert batch.file_name == "jincheng_2019_03.csv" and batch.claims.count() == 3
    # The fund's accountant keeps no insurer book: they may not upload claims for it.
    with pytest.raises(Refused):
        upload_stage(kind="claims", params={"contract": contract.pk}, file_name="c.csv", by=people["li"],
                     content=b"x")


# -- top-up tables ------------------------------------------------------------------------------------------------

def test_a_topup_table_is_previewed_then_imported(jilin, people):
    content = (Path(settings.BASE_DIR) / "data" / "jilin_2019_topup.csv").read_bytes()
    params = {"year": 2019, "per_capita": "15.00", "due": "2019-11-30", "accept_discrepancies": False}
    with pytest.raises(Refused):  # only those who may create obligations (administrators)
        upload_stage(kind="topup", params=params, file_name="t.csv", content=content, by=people["li"])
    before = PremiumObligation.objects.count()
    # The shipped table's subtotals do not add up (as published): refused, every discrepancy with its row.
    refused = upload_stage(kind="topup", params=params, file_name="jilin_2019_topup.csv", content=content,
                           by=people["admin"])
    assert refused.status == "refused"
    assert (2, "amount", "174,150,675.00 (the sum of the subtotals)") in [
        (p["row"], p["field"], p["expected"]) for p in refused.problems]
    # Accepted after checking, as --accept-discrepancies: previewed, the discrepancies kept as warnings.
    staged = upload_stage(kind="topup", params={**params, "accept_discrepancies": True},
                          file_name="jilin_2019_topup.csv", content=content, by=people["admin"])
    assert staged.status == "previewed", staged.problems
    assert staged.preview["warnings"]
    assert staged.preview["figures"]["total_amount"] == "182541735.00"
    assert PremiumObligation.objects.count() == before
    done = upload_confirm(staged_id=staged.pk, by=people["admin"], sha256=staged.sha256)
    assert done.status == "done" and done.result["obligations"] == PremiumObligation.objects.count() - before > 0


# -- large files ------------------------------------------------------------------------------------------------

def test_a_large_file_is_refused_at_once_when_no_worker_listens(icbc_account, people, settings):
    settings.UPLOAD_INLINE_ROWS = 1
    settings.UPLOAD_QUEUE = "nobody-listens-here"
    staged = _stage_bank(people["li"], icbc_account)
    before = _business_counts()
    with pytest.raises(Refused) as info:
        upload_confirm(staged_id=staged.pk, by=people["li"], sha256=staged.sha256)
    assert info.value.problems[0]["field"] == "worker"
    assert info.value.problems[0]["found"] in ("no worker answers", "the message broker cannot be reached")
    staged.refresh_from_db()
    assert staged.status == "previewed" and _business_counts() == before


# -- the admin pages ---------------------------------------------------------------------------------------------

def test_the_pages_preview_confirm_and_refuse_another_user(icbc_account, people, client):
    client.force_login(people["li"])
    page = client.get("/admin/reconciliation/bankstatement/")
    assert "/admin/reconciliation/bankstatement/upload/" in page.content.decode()
    with open(FILES / "icbc_2020_03_bad.csv", "rb") as f:
        r = client.post("/admin/reconciliation/bankstatement/upload/", {
            "account": icbc_account.pk, **BANK, "month": 3, "file": f})
    assert r.status_code == 302, r.content.decode()[:3000]
    staged = StagedUpload.objects.get()
    html = client.get(r["Location"]).content.decode()
    assert "1e30" in html and 'id="confirm-form"' not in html
    with open(FILES / "icbc_2020_03.csv", "rb") as f:
        r = client.post("/admin/reconciliation/bankstatement/upload/", {
            "account": icbc_account.pk, **BANK, "file": f})
    clean = StagedUpload.objects.exclude(pk=staged.pk).get()
    html = client.get(r["Location"]).content.decode()
    assert 'id="confirm-form"' in html and clean.sha256 in html and "&#x27; /C calc" in html  # escaped, as text

    client.force_login(people["other"])
    assert client.get(r["Location"]).status_code == 403
    assert client.post(f"/admin/reconciliation/bankstatement/upload/{clean.pk}/confirm/",
                       {"sha256": clean.sha256}).status_code == 403
    assert not BankStatement.objects.exists()
    assert AuditEvent.objects.filter(action="access_refused", actor="zhao-fang").count() >= 2

    client.force_login(people["li"])
    r = client.post(f"/admin/reconciliation/bankstatement/upload/{clean.pk}/confirm/", {"sha256": clean.sha256})
    assert r.status_code == 302 and BankStatement.objects.get().lines.count() == 3
    client.post(f"/admin/reconciliation/bankstatement/upload/{clean.pk}/confirm/", {"sha256": clean.sha256})
    assert BankStatement.objects.count() == 1 and BankLine.objects.count() == 3


def test_the_upload_buttons_follow_the_role(people, client):
    client.force_login(people["liu"])
    assert "/admin/claims/claimbatch/upload/" in client.get("/admin/claims/claimbatch/").content.decode()
    assert client.get("/admin/contracts/premiumobligation/upload/").status_code == 403
    client.force_login(people["auditor"])
    assert "upload/" not in client.get("/admin/claims/claimbatch/").content.decode()
    assert client.get("/admin/claims/claimbatch/upload/").status_code == 403
    client.force_login(people["admin"])
    assert "/admin/contracts/premiumobligation/upload/" in client.get(
        "/admin/contracts/premiumobligation/").content.decode()


# -- a real worker (PostgreSQL) ------------------------------------------------------------------------------------

@pytest.fixture
def worker(settings, tmp_path):
    import os
    import subprocess
    import sys
    import time
    import uuid

    from tests.integration.requires import need, redis_reachable

    need(connection.vendor == "postgresql", "the worker process needs a shared database (PostgreSQL)")
    need(redis_reachable(settings.CELERY_BROKER_URL), f"Redis at {settings.CELERY_BROKER_URL} (redis-server)")
    queue = f"test-uploads-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DJANGO_SETTINGS_MODULE": "config.settings", "LEDGER_CHECKPOINT_DIR": str(settings.LEDGER_CHECKPOINT_DIR),
           "LEDGER_SEAL_KEY": settings.LEDGER_SEAL_KEY}
    name = f"w-{queue}@localhost"
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "-n",
                             name, "--without-gossip", "--without-mingle", "-l", "WARNING"],
                            cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    from config.celery import app

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not app.control.ping(destination=[name], timeout=1):
            need(proc.poll() is None, f"the worker exited: {log.read_text(errors='replace')[-2000:]}")
        need(bool(app.control.ping(destination=[name], timeout=1)),
             f"the Celery worker did not answer: {log.read_text(errors='replace')[-2000:]}")
        settings.UPLOAD_QUEUE = queue
        yield queue
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a shared database")
@pytest.mark.django_db(transaction=True)
def test_a_large_claims_file_is_imported_by_a_worker_with_its_progress(worker, jincheng, people, tmp_path, settings):
    import time

    settings.UPLOAD_INLINE_ROWS = 1000
    rows = [_claim(f"JC-{i:05d}", admitted_on=f"2019-{1 + i % 11:02d}-01", discharged_on=f"2019-{1 + i % 11:02d}-10",
                   settled_on=f"2019-{1 + i % 11:02d}-12") for i in range(2500)]
    staged = upload_stage(kind="claims", params={"contract": jincheng.contract.pk}, file_name="big.csv",
                          content=_claims_file(tmp_path, rows), by=people["liu"])
    assert staged.status == "previewed" and staged.rows == 2500 and not Claim.objects.exists()
    queued = upload_confirm(staged_id=staged.pk, by=people["liu"], sha256=staged.sha256)
    assert queued.status == "queued"
    seen, deadline = set(), time.monotonic() + 120
    while time.monotonic() < deadline:
        s = StagedUpload.objects.defer("content").get(pk=staged.pk)
        seen.add((s.status, s.progress))
        if s.status in ("done", "failed"):
            break
        time.sleep(0.05)
    assert s.status == "done", s.result
    assert s.progress == 2500 and s.task_id
    # The page polling meanwhile saw the rows read rise while the import's transaction was still open.
    assert any(status == "importing" and 0 < n < 2500 for status, n in seen), sorted(seen)
    assert ClaimBatch.objects.get().claims.count() == 2500 and ClaimBatch.objects.get().status == "prepared"
    # Confirming again (a second tab) finds it imported: nothing new.
    with pytest.raises(Refused):
        upload_confirm(staged_id=staged.pk, by=people["liu"], sha256=staged.sha256)
    assert Claim.objects.count() == 2500


def test_the_xls_sample_is_a_real_legacy_workbook():
    # icbc_2020_05.xls was written once with xlwt 1.3.0 (a legacy XLS writer, not a dependency of the product).
    assert (FILES / "icbc_2020_05.xls").read_bytes()[:4] == b"\xd0\xcf\x11\xe0"
