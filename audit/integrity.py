"""Verify the audit trail: every event carries its own seal, every committed event is linked into the
chain, the chain links run unbroken, and it is no shorter than its last checkpoint outside the database."""

from datetime import timedelta

from django.utils import timezone

from core.checkpoints import checkpoint_last
from core.seal import canonical, seal, sealed_by_us

from .models import AuditChain, AuditEvent, AuditLink
from .services import TRAIL, event_content

# An event is linked right after its transaction commits; one still unlinked after this long is not
# waiting for its commit but was put there by hand (or linking keeps failing).
LINK_GRACE = timedelta(minutes=10)
WHERE = "(audit trail)"


def audit_verify(*, now=None) -> list[dict]:
    """The trail's problems, each naming the event: [] when it holds."""
    now = now or timezone.now()
    problems = []

    def add(entry, check, expected, found):
        problems.append({"book": WHERE, "entry": entry, "check": check, "expected": str(expected),
                         "found": str(found)})

    macs = {}
    for e in AuditEvent.objects.order_by("id").iterator(chunk_size=5000):
        macs[e.pk] = e.mac
        label = f"event {e.pk} {e.action} {e.actor} {timezone.localtime(e.at):%Y-%m-%d %H:%M:%S}"
        if not e.mac:
            add(label, "seal", "an event sealed as it was written", "no seal (written outside the application)")
            continue
        content = event_content(at=e.at, actor=e.actor, action=e.action, outcome=e.outcome,
                                object_type=e.object_type, object_id=e.object_id, object_repr=e.object_repr,
                                book_code=e.book_code, digest=e.digest, ip=e.ip, detail=e.detail)
        if not sealed_by_us(e.mac, content):
            add(label, "seal", "the event as it was written", "changed, or written without the key")
    linked = set()
    link, length = "", 0
    for ln in AuditLink.objects.order_by("seq").iterator(chunk_size=5000):
        length += 1
        linked.add(ln.event_id)
        label = f"link {ln.seq} (event {ln.event_id})"
        if ln.seq != length:
            add(label, "position", length, ln.seq)
        if ln.prev != link:
            add(label, "previous link", link[:16] or "(start)", ln.prev[:16])
        if ln.event_id not in macs:
            add(label, "event", "the linked event", "missing: removed from the trail")
        expected = seal(ln.prev.encode(), canonical([ln.seq, ln.event_id, macs.get(ln.event_id) or ""]))
        if expected != ln.link:
            add(label, "link", "sealed over the one before", "changed, or made without the key")
        link = ln.link
    late = [pk for pk in macs if pk not in linked]
    if late:
        old = AuditEvent.objects.filter(pk__in=late, at__lt=now - LINK_GRACE).values_list("pk", flat=True)[:20]
        for pk in old:
            add(f"event {pk}", "chain", "every event linked after its commit", "outside the chain")
    head = AuditChain.objects.filter(pk=1).first()
    if head is not None and (head.length, head.head) != (length, link):
        add("(head)", "chain head", f"{length} links ending {link[:16]}", f"{head.length} ending {head.head[:16]}")
    checkpoint, bad = checkpoint_last(TRAIL)
    if bad:
        add("(checkpoints)", "sealed checkpoint lines", "every line sealed by this ledger", bad)
    if checkpoint is not None:
        if length < checkpoint["length"]:
            add(f"checkpoint of {checkpoint['at'][:19]}", "chain length",
                f"at least {checkpoint['length']} links (the checkpoint)",
                f"{length}: events were removed, or an older database restored")
        else:
            at_cp = AuditLink.objects.filter(seq=checkpoint["length"]).values_list("link", flat=True).first()
            if at_cp != checkpoint["head"]:
                add(f"checkpoint of {checkpoint['at'][:19]}", f"link {checkpoint['length']}",
                    checkpoint["head"][:16], (at_cp or "")[:16])
    return problems
