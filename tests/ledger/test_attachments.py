"""原始凭证: the 银行回单 a premium voucher rests on, attached to the draft, sealed with it when it posts.

张三 prepares the voucher for the first Shandong tranche and attaches the bank's receipt (a PDF) and a
photographed transfer order (a JPEG); 李四 posts it. The printed voucher says 附件 2 张; the files can
no longer change, and one replaced behind the application's back is named by verify_ledger.
"""

import hashlib
from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction

from core.errors import Refused
from ledger.attachments import attachment_add, attachment_remove
from ledger.integrity import ledger_verify
from ledger.models import Attachment
from ledger.services import entry_draft_post, entry_draft_save
from tests.conftest import premium_lines

RECEIPT = b"%PDF-1.4\n% bank receipt JC-2019-T1\n%%EOF\n"
PHOTO = b"\xff\xd8\xff\xe0" + b"transfer order" * 10


@pytest.fixture
def draft(fund_book, maker):
    return entry_draft_save(book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
                            lines=premium_lines("256000000.00"), made_by=maker)


def test_scans_attached_to_a_draft_are_sealed_with_the_voucher(draft, maker, reviewer):
    receipt = attachment_add(entry=draft, name="银行回单.pdf", content=RECEIPT, by=maker)
    attachment_add(entry=draft, name="划款凭单.jpg", content=PHOTO, by=maker)
    assert (receipt.content_type, receipt.size, receipt.sha256) == (
        "application/pdf", len(RECEIPT), hashlib.sha256(RECEIPT).hexdigest())
    posted = entry_draft_post(entry=draft, reviewed_by=reviewer)
    assert posted.attachments.count() == 2
    assert ledger_verify(book=posted.book).ok

    with pytest.raises(Refused) as info:
        attachment_add(entry=posted, name="补充.pdf", content=RECEIPT + b" ", by=maker)
    assert info.value.problems[0]["expected"] == "a draft (a posted voucher's attachments are sealed with it)"
    with pytest.raises(Refused):
        attachment_remove(attachment=receipt, by=maker)
    for sql in ("UPDATE ledger_attachment SET name = 'x' WHERE id = %s", "DELETE FROM ledger_attachment WHERE id = %s"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [receipt.pk])
    assert Attachment.objects.filter(entry=posted).count() == 2


def test_only_pdf_jpeg_or_png_within_the_limit_and_only_by_the_maker(draft, maker, reviewer, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    with pytest.raises(Refused) as info:
        attachment_add(entry=draft, name="发票.exe", content=b"MZ\x90\x00" + b"x" * 200, by=maker)
    assert {p["expected"] for p in info.value.problems} == {"a PDF, JPEG or PNG file", "at most 100 bytes"}
    with pytest.raises(Refused) as info:
        attachment_add(entry=draft, name="银行回单.pdf", content=RECEIPT, by=reviewer)
    assert info.value.problems[0]["expected"] == "the draft's maker (制单) or an administrator"
    attachment_add(entry=draft, name="银行回单.pdf", content=RECEIPT, by=maker)
    with pytest.raises(Refused) as info:
        attachment_add(entry=draft, name="银行回单(1).pdf", content=RECEIPT, by=maker)
    assert info.value.problems[0]["expected"] == "a file not yet attached to this voucher"
    assert Attachment.objects.count() == 1


def test_a_scan_replaced_behind_the_guards_is_named_by_verification(draft, maker, reviewer):
    attachment_add(entry=draft, name="银行回单.pdf", content=RECEIPT, by=maker)
    posted = entry_draft_post(entry=draft, reviewed_by=reviewer)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ledger_attachment_guard ON ledger_attachment")
        else:
            cursor.execute("DROP TRIGGER ledger_attachment_guard_update")
        forged = b"%PDF-1.4\n% a different receipt\n%%EOF\n"
        cursor.execute("UPDATE ledger_attachment SET content = %s WHERE entry_id = %s", [forged, posted.pk])
    result = ledger_verify(book=posted.book)
    assert [(p["entry"], p["check"]) for p in result.problems] == [(posted.voucher, "attachment 银行回单.pdf")]
    # Replacing the digest too breaks the voucher's seal instead.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_attachment SET sha256 = %s WHERE entry_id = %s",
                       [hashlib.sha256(forged).hexdigest(), posted.pk])
    result = ledger_verify(book=posted.book)
    assert (posted.voucher, "seal (content or chain changed after posting)") in {
        (p["entry"], p["check"]) for p in result.problems}
