"""Every statement carries the institution's PAdES signature, which validates without this application
(pyHanko's validator and its command line, trusting only the configured root) and fails once a byte is
changed or added; an auditor holding a paper copy finds the statement's record by its code, within
their scope."""

import io
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from access.services import user_create
from accounts.services import region_ensure
from audit.models import AuditEvent
from ledger.services import EntrySpec, entries_post_many, entry_post
from reports.models import ReportJob
from reports.services import MARK, english, report_issue, report_job_run, report_verify, report_verify_record
from reports.signing import credentials_check, dev_credentials_ensure, sign_pdf, validate_pdf
from tests.conftest import premium_lines

PYHANKO = Path(sys.executable).parent / "pyhanko"
PASSWORD = "Ledger-审计-2026!x"


def _pyhanko_status(pdf: bytes, roots):
    """pyHanko's own judgment, used directly (not through reports.signing): only `roots` trusted."""
    context = ValidationContext(trust_roots=list(load_certs_from_pemder(map(str, roots))), allow_fetching=False)
    signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    assert len(signatures) == 1
    return validate_pdf_signature(signatures[0], context)


def _cli(path: Path, root: Path) -> subprocess.CompletedProcess:
    # The README's command, as an auditor runs it: only the named root trusted, not the system's store.
    return subprocess.run([str(PYHANKO), "sign", "validate", "--trust-replace", "--trust", str(root), str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def statement(fund_book, signed, tmp_path):
    entry_post(book=fund_book, date=date(2015, 3, 20), memo="保费划拨", lines=premium_lines("1234.56"), **signed)
    out = tmp_path / "tb.pdf"
    record = report_issue(kind="trial-balance", book=fund_book, year=2015, out=out, by="测试")
    return record, out


def _first_content_stream_byte(raw: bytes) -> int:
    """An offset inside the first page's content stream (compressed: the byte is no digit one can read,
    but it is what a page shows)."""
    reader = PdfReader(io.BytesIO(raw))
    ref = reader.pages[0].raw_get("/Contents")
    ref = ref[0] if isinstance(ref, list) else ref
    start = raw.index(b"stream", raw.index(f"\n{ref.idnum} {ref.generation} obj".encode())) + len(b"stream\n")
    return start + 40


def test_every_statement_quickstart_writes_is_signed_and_validates_against_the_trust_root(db, settings, tmp_path):
    # quickstart writes under BASE_DIR/out: a mirror of the checkout (data/, reports/, … linked) whose
    # out/ is this test's own, whichever modules read BASE_DIR first.
    for entry in Path(settings.BASE_DIR).iterdir():
        if entry.name not in ("out", ".venv") and not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    settings.BASE_DIR = tmp_path
    out = io.StringIO()
    call_command("quickstart", "--json", stdout=out)
    written = json.loads(out.getvalue())["reports"]
    files = sorted((tmp_path / "out" / "reports").glob("*.pdf"))
    assert len(files) == len([w for w in written if w.endswith(".pdf")]) == 15  # with Shandong's province statement
    for path in files:
        raw = path.read_bytes()
        status = _pyhanko_status(raw, settings.REPORT_TRUST_ROOTS)
        assert status.bottom_line and status.intact and status.valid and status.trusted, (path.name, status.summary())
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE, path.name
        assert status.signing_cert.subject.native["organization_name"] == "城乡居民大病保险资金核算账本（开发）"
        code = re.search(rb"\n%" + MARK.encode() + rb"([0-9A-F]{16})\n", raw).group(1).decode()
        assert str(status.md_algorithm) == "sha256" and code in str(
            PdfFileReader(io.BytesIO(raw), strict=False).embedded_signatures[0].sig_object["/Reason"])
        # The application's own verification agrees, signature included, and the recorded digest is the signed file's.
        verified = report_verify(path=path)
        assert verified.ok and verified.signature.ok, (path.name, verified.differences)
        assert verified.record.code == code


def test_a_changed_or_added_byte_fails_validation(statement, tmp_path):
    record, path = statement
    raw = path.read_bytes()
    roots = settings.REPORT_TRUST_ROOTS
    assert _pyhanko_status(raw, roots).bottom_line and validate_pdf(path).ok

    i = _first_content_stream_byte(raw)  # one byte of what the first page draws
    in_stream = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]
    j = raw.index(b"/MediaBox")  # one digit of the page size, the file's structure left whole
    j = j + re.search(rb"\d", raw[j:]).start()
    digit = raw[:j] + (b"1" if raw[j:j + 1] != b"1" else b"2") + raw[j + 1:]
    appended = raw + b"\n% a line added after signing\n"

    for name, altered in (("content stream", in_stream), ("MediaBox digit", digit)):
        status = _pyhanko_status(altered, roots)
        assert not status.intact and not status.bottom_line, name  # pyHanko: the signed digest no longer matches
        result = validate_pdf(altered)
        assert (result.ok, result.intact) == (False, False) and "altered" in result.reason, name
    # Bytes after the signature leave it intact but not covering the file: pyHanko reports the update,
    # and the ledger, which never updates a statement once signed, refuses it.
    status = _pyhanko_status(appended, roots)
    assert status.intact and status.coverage != SignatureCoverageLevel.ENTIRE_FILE
    result = validate_pdf(appended)
    assert (result.ok, result.intact, result.whole_file) == (False, True, False)
    assert "changed after it was signed" in result.reason

    # report_verify says so too, with the signature's reason among the differences.
    for name, altered in (("content", in_stream), ("appended", appended)):
        (tmp_path / f"{name}.pdf").write_bytes(altered)
        v = report_verify(path=tmp_path / f"{name}.pdf")
        assert not v.ok and v.record == record and not v.signature.ok
        differences = english(v.differences)  # as --json and the audit trail keep them
        assert differences[0].startswith("the PDF file is not the one issued")
        assert any(d.startswith("the PDF signature does not validate: ") for d in differences), differences


def test_the_pyhanko_command_line_validates_a_statement_and_rejects_an_altered_one(statement, tmp_path):
    _, path = statement
    root = Path(settings.REPORT_TRUST_ROOTS[0])
    run = _cli(path, root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.fullmatch(r"LedgerSignature:[0-9a-f]{64}:INTACT:TRUSTED,UNTOUCHED", run.stdout.strip()), run.stdout
    raw = path.read_bytes()
    j = raw.index(b"/MediaBox")
    j = j + re.search(rb"\d", raw[j:]).start()
    (tmp_path / "digit.pdf").write_bytes(raw[:j] + (b"1" if raw[j:j + 1] != b"1" else b"2") + raw[j + 1:])
    run = _cli(tmp_path / "digit.pdf", root)
    assert run.returncode != 0 and "INTACT:TRUSTED" not in run.stdout, run.stdout
    # Appended bytes: the CLI still exits 0 but no longer says UNTOUCHED; the README tells auditors to look for it.
    (tmp_path / "appended.pdf").write_bytes(raw + b"\n%x\n")
    run = _cli(tmp_path / "appended.pdf", root)
    assert "UNTOUCHED" not in run.stdout and "EXTENDED" in run.stdout, run.stdout
    # Another institution's root: not trusted.
    other = dev_credentials_ensure(tmp_path / "other-ca")["trust_roots"][0]
    run = _cli(path, other)
    assert run.returncode != 0 and "UNTRUSTED" in run.stdout, run.stdout


def test_the_signature_covers_no_text_on_any_page(statement):
    """Invisible: the field's widget has an empty rectangle, so no page's text is hidden, and the pages
    carry nothing but what the statement drew."""
    _, path = statement
    reader = PdfReader(path)
    fields = reader.get_fields()
    assert list(fields) == ["LedgerSignature"] and fields["LedgerSignature"]["/FT"] == "/Sig"
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/FT") == "/Sig" or annot.get("/Parent", {}).get("/FT") == "/Sig":
                assert [float(x) for x in annot["/Rect"]] == [0, 0, 0, 0]
    text = reader.pages[0].extract_text()
    assert "科 目 余 额 表" in text.replace("\u3000", " ") or "科目余额表" in text
    assert f"{MARK}" in text  # the code still printed on the page for paper copies


def test_a_statement_joined_from_parts_is_signed_once_over_the_whole(fund_book, signed, settings):
    settings.REPORT_PART_ROWS = 20
    day = date(2015, 1, 1)
    entries_post_many(book=fund_book, entries=[EntrySpec(day.replace(day=1 + i), premium_lines(f"{100 + i}.00"),
                                                         f"第{i + 1}笔") for i in range(12)], **signed)
    job = ReportJob.objects.create(kind="vouchers", book=fund_book, year=2015, requested_by="测试")
    job = report_job_run(job_id=job.pk)
    assert job.status == "done" and job.parts > 1
    raw = Path(job.file).read_bytes()
    status = _pyhanko_status(raw, settings.REPORT_TRUST_ROOTS)
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert report_verify(path=job.file).ok


def _make_pkcs12(folder: Path, password: str) -> dict:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
    from cryptography.x509 import load_pem_x509_certificate

    creds = dev_credentials_ensure(folder)
    key = load_pem_private_key(creds["key"].read_bytes(), None)
    cert = load_pem_x509_certificate(creds["cert"].read_bytes())
    p12 = folder / "signer.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"ledger", key, cert, None,
                                                          BestAvailableEncryption(password.encode())))
    return {"p12": p12, "root": creds["trust_roots"][0]}


def test_a_pkcs12_certificate_signs_and_only_its_own_root_is_trusted(settings, tmp_path):
    creds = _make_pkcs12(tmp_path / "institution", "口令-p12")
    settings.REPORT_SIGNING_KEY, settings.REPORT_SIGNING_CERT = creds["p12"], None
    settings.REPORT_SIGNING_PASSWORD, settings.REPORT_SIGNING_CHAIN = "口令-p12", []
    settings.REPORT_TRUST_ROOTS = [creds["root"]]
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, "1234.56")
    canvas.save()
    signed_pdf = sign_pdf(buffer.getvalue())
    result = validate_pdf(signed_pdf)
    assert result.ok and result.signer.startswith("大病保险核算账本报表签章（开发）")
    someone_else = dev_credentials_ensure(tmp_path / "someone-else")["trust_roots"][0]
    result = validate_pdf(signed_pdf, trust_roots=[someone_else])
    assert (result.ok, result.intact, result.trusted) == (False, True, False) and "not trusted" in result.reason
    with pytest.raises(RuntimeError, match="cannot be read"):
        credentials_check(key=creds["p12"], cert=None, password="wrong")
    credentials_check(key=creds["p12"], cert=None, password="口令-p12")


def test_development_credentials_are_made_once_even_by_two_processes_at_once(tmp_path):
    folder = tmp_path / ".signing"
    # Two processes starting together on a fresh checkout (a web server and a worker); reports.signing
    # needs no Django for this, as config/settings.py calls it while still being read.
    script = ("import sys; from pathlib import Path; from reports.signing import dev_credentials_ensure; "
              "c = dev_credentials_ensure(Path(sys.argv[1])); print(c['key'], c['cert'])")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(folder)], cwd=settings.BASE_DIR,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert results[0] == results[1]
    creds = dev_credentials_ensure(folder)
    credentials_check(key=creds["key"], cert=creds["cert"], password="")  # the key and certificate belong together
    first = creds["cert"].read_bytes()
    assert dev_credentials_ensure(folder)["cert"].read_bytes() == first  # made once, then reused
    assert (creds["key"].stat().st_mode & 0o077) == 0  # the key is readable by its owner only
    assert not [p for p in tmp_path.iterdir() if p.name != ".signing"]  # no scratch folder left behind


def _settings_run(env_extra: dict, tmp_path) -> subprocess.CompletedProcess:
    import os
    import secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORT_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60), "PSEUDONYM_KEY": secrets.token_hex(32),
                "LEDGER_SEAL_KEY": secrets.token_hex(32), "ALLOWED_HOSTS": "ledger.example.cn",
                "LEDGER_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
                "DJANGO_SETTINGS_MODULE": "config.settings", **env_extra})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_signing_certificate_and_starts_with_one(tmp_path):
    run = _settings_run({}, tmp_path)
    assert run.returncode != 0 and "REPORT_SIGNING_KEY" in run.stderr, run.stderr[-2000:]
    creds = _make_pkcs12(tmp_path / "institution", "口令-p12")
    configured = {"REPORT_SIGNING_KEY": str(creds["p12"]), "REPORT_SIGNING_PASSWORD": "口令-p12",
                  "REPORT_TRUST_ROOTS": str(creds["root"])}
    run = _settings_run(configured, tmp_path)
    assert run.returncode == 0 and "System check identified no issues" in run.stdout, run.stdout + run.stderr[-2000:]
    run = _settings_run({**configured, "REPORT_SIGNING_PASSWORD": "wrong"}, tmp_path)
    assert run.returncode != 0 and "cannot be read" in run.stderr
    run = _settings_run({**configured, "REPORT_TRUST_ROOTS": ""}, tmp_path)
    assert run.returncode != 0 and "REPORT_TRUST_ROOTS" in run.stderr


# -- looking a statement up by its code ----------------------------------------------------------

@pytest.fixture
def auditors(shandong):
    region_ensure(code="14", name="山西省", level="province")
    return {"here": user_create(username="sun", password=PASSWORD, role="auditor", regions=["37"], full_name="孙审计"),
            "there": user_create(username="zhou", password=PASSWORD, role="auditor", regions=["14"],
                                 full_name="周审计")}


def _client(user):
    c = Client(REMOTE_ADDR="10.20.30.40")
    c.force_login(user)
    return c


def test_an_auditor_looks_a_statement_up_by_the_code_on_paper(statement, auditors, fund_book, signed):
    record, _ = statement
    c = _client(auditors["here"])
    url = reverse("admin:reports_reportrecord_lookup")
    assert url == "/admin/reports/reportrecord/lookup/"
    listing = c.get(reverse("admin:reports_reportrecord_changelist")).content.decode()
    assert url in listing and "按核验码查询" in listing  # linked from the list, in Chinese
    typed = f"ledger-verify-{record.code[:8].lower()} {record.code[8:]}"  # as read off the page
    page = c.post(url, {"code": typed}).content.decode()
    assert 'id="lookup-result"' in page and "✔ 账簿至今与该报表出具时的数字一致。" in page and "出具记录" in page
    table = page.split('id="lookup-record"', 1)[1].split("</table>", 1)[0]
    for shown in (f"{MARK}{record.code}", "科目余额表", "FUND-37", "2015年1–12月", "测试",
                  record.pdf_sha256, record.chain_head, str(record.chain_length)):
        assert shown in table, shown
    event = AuditEvent.objects.filter(action="report_verified", actor="sun").get()
    assert (event.outcome, event.object_id, event.detail["looked_up_by_code"]) == ("ok", str(record.pk), True)

    # A voucher posted later into the statement's year: it still agrees with the books it stood on, and
    # the page says the books have moved on since.
    entry_post(book=fund_book, date=date(2015, 9, 1), memo="补记", lines=premium_lines("1.00"), **signed)
    page = c.post(url, {"code": record.code}).content.decode()
    assert "✔" in page and 'id="verify-notes"' in page and "在报表出具后记账" in page
    # A posting it covers, changed behind the triggers: it no longer agrees, and the voucher is named.
    from tests.reports.test_reports import _drop_posting_guards

    _drop_posting_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET credit_fen = credit_fen + 1, debit_fen = 0 WHERE id = (SELECT "
                       "min(id) FROM ledger_posting WHERE book_id = %s AND credit_fen > 0)", [fund_book.pk])
    page = c.post(url, {"code": record.code}).content.decode()
    assert "✘" in page and "seal (content or chain changed after posting)" in page
    assert not report_verify_record(record).ok


def test_a_code_outside_the_auditors_scope_is_refused_and_recorded(statement, auditors):
    record, _ = statement
    c = _client(auditors["there"])
    response = c.post(reverse("admin:reports_reportrecord_lookup"), {"code": record.code})
    assert response.status_code == 403
    assert record.pdf_sha256 not in response.content.decode()
    refused = AuditEvent.objects.get(action="access_refused", actor="zhou")
    assert (refused.detail["model"], refused.detail["object_id"], refused.detail["path"]) == (
        "reports.reportrecord", str(record.pk), "/admin/reports/reportrecord/lookup/")
    assert not AuditEvent.objects.filter(action="report_verified", actor="zhou").exists()


def test_an_unknown_or_malformed_code_is_said_and_an_unknown_one_recorded(auditors, db):
    c = _client(auditors["here"])
    url = reverse("admin:reports_reportrecord_lookup")
    page = c.post(url, {"code": "LEDGER-VERIFY-0123456789ABCDEF"}).content.decode()
    assert "lookup-record" not in page and "errorlist" in page
    event = AuditEvent.objects.get(action="report_verified", actor="sun")
    assert (event.outcome, event.detail["code"]) == ("refused", "0123456789ABCDEF")
    page = c.post(url, {"code": "not a code"}).content.decode()
    assert "lookup-record" not in page and "errorlist" in page
    assert AuditEvent.objects.filter(action="report_verified").count() == 1
