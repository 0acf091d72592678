"""The documents a voucher rests on (原始凭证): a bank receipt (银行回单), an invoice, a contract page.

Scans are uploaded onto the draft by whoever may edit it, kept in the database with their SHA-256,
and frozen with the voucher when it posts: the voucher's seal covers every digest (ledger.chain) and
verify_ledger re-reads every byte. 附件张数 on the printed voucher is the number kept here.
"""

import hashlib

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem
from core.people import person_of

from .models import Attachment, JournalEntry

# What a scan may be, told by its first bytes (never by its name or the browser's word for it).
KINDS = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def _kind(content: bytes) -> str | None:
    return next((kind for magic, kind in KINDS if content.startswith(magic)), None)


def _editable(entry: JournalEntry, who, label) -> list[dict]:
    if entry.status != JournalEntry.Status.DRAFT:
        return [problem(label, _("status"), _("a draft (a posted voucher's attachments are sealed with it)"),
                        _("already posted"))]
    if who is None or not (who.pk == entry.made_by_id or is_administrator(who)):
        return [problem(label, _("user"), _("the draft's maker (制单) or an administrator"),
                        who.get_username() if who is not None else _("nobody"))]
    return []


@transaction.atomic
def attachment_add(*, entry: JournalEntry, name: str, content: bytes, by) -> Attachment:
    """Attach one scan (PDF, JPEG or PNG, at most ATTACHMENT_MAX_BYTES) to a draft voucher."""
    entry = JournalEntry.objects.select_for_update().get(pk=entry.pk)
    who = person_of(by)
    label = entry.label()
    where = lazy_format(_("attachment %(name)s"), name=name)
    problems = _editable(entry, who, label)
    kind = _kind(content)
    limit = settings.ATTACHMENT_MAX_BYTES
    if kind is None:
        problems.append(problem(label, where, _("a PDF, JPEG or PNG file"), content[:8].hex() or _("an empty file")))
    if len(content) > limit:
        problems.append(problem(label, where, lazy_format(_("at most %(limit)s bytes"), limit=f"{limit:,}"),
                                f"{len(content):,}"))
    sha = hashlib.sha256(content).hexdigest()
    if not problems and entry.attachments.filter(sha256=sha).exists():
        problems.append(problem(label, where, _("a file not yet attached to this voucher"),
                                lazy_format(_("the same content as an attachment it has (SHA-256 %(sha)s)"),
                                            sha=sha[:16])))
    if problems:
        raise Refused(problems)
    attachment = Attachment.objects.create(entry=entry, name=name[:200], content_type=kind, size=len(content),
                                           sha256=sha, content=content, uploaded_by=who)
    audit_record(action="attachment_added", actor=who, obj=entry, digest=sha,
                 detail={"name": attachment.name, "size": attachment.size, "type": kind})
    return attachment


@transaction.atomic
def attachment_remove(*, attachment: Attachment, by) -> None:
    entry = JournalEntry.objects.select_for_update().get(pk=attachment.entry_id)
    who = person_of(by)
    problems = _editable(entry, who, entry.label())
    if problems:
        raise Refused(problems)
    audit_record(action="attachment_removed", actor=who, obj=entry, digest=attachment.sha256,
                 detail={"name": attachment.name, "size": attachment.size})
    attachment.delete()
