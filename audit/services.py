"""Record what people and jobs do to the books. The lowest layer beside core: any app may call it.

Events of requests without a signed-in user (failed sign-ins, CSRF failures, writes with an expired
session, refusals of anonymous clients) can be made by anyone, as fast as they like. So that nobody
can flood the trail from outside, past a limit per source address and time window, and past a limit
for all such sources together, they are counted (`FloodCounter`, one atomic UPDATE per event, shared
by every worker process through the database) instead of written one by one; when the window has
ended the trail gets one summary event per source saying how many were not written. Events of
signed-in users, and of commands and scheduled tasks, are never limited.
"""

import hashlib
import ipaddress
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.checkpoints import checkpoint_append
from core.seal import canonical, seal

from .models import AuditChain, AuditEvent, AuditLink, FloodCounter

# Counter rows stay this long after their window (the admin shows them); the trail keeps the summaries.
COUNTERS_KEPT = timedelta(days=7)


def file_digest(path) -> str:
    h = hashlib.sha256()
    with open(Path(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _actor(actor, request) -> str:
    if actor is None and request is not None and getattr(request, "user", None) is not None \
            and request.user.is_authenticated:
        actor = request.user
    if actor is None:
        return "system"
    if hasattr(actor, "get_username"):
        return actor.get_username() or "anonymous"
    return str(actor)[:150]


def audit_record(*, action: str, actor=None, obj=None, book=None, detail: dict | None = None, digest: str = "",
                 request=None, outcome: str = AuditEvent.Outcome.OK) -> AuditEvent | None:
    """One event. `actor`: a user, a name or None (the request's user, else "system");
    `book`: a Book or its code (default: the object's book, or the object itself if a book).

    Returns None when the event came from outside (no signed-in user) over the flood limit: it is
    counted, and the window's summary event carries it."""
    if book is None and obj is not None:
        book = getattr(obj, "book", None) or (obj if type(obj).__name__ == "Book" else None)
    book_code = getattr(book, "code", book) or ""
    fields = dict(
        action=action, actor=_actor(actor, request), outcome=outcome, digest=digest, detail=detail or {},
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "", object_repr=str(obj)[:300] if obj is not None else "",
        book_code=str(book_code)[:32], ip=request.META.get("REMOTE_ADDR") if request is not None else None)
    if not _from_outside(actor, request):
        return _create(**fields)
    return _record_limited(fields, _source(request))


# -- the seal ---------------------------------------------------------------------------------------

def _normal_ip(ip):
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(str(ip).strip()))
    except ValueError:
        return str(ip)


def event_content(*, at, actor, action, outcome, object_type, object_id, object_repr, book_code, digest, ip,
                  detail) -> bytes:
    """What an event's seal covers, in the form the database gives it back (UTC time, normal address)."""
    return canonical([at.astimezone(UTC).isoformat(), actor, action, outcome, object_type, object_id, object_repr,
                      book_code, digest, _normal_ip(ip), detail])


def _create(**fields) -> AuditEvent:
    """Write one event with its own seal, and link it into the trail's chain once its transaction commits."""
    fields.setdefault("at", timezone.now())
    fields.setdefault("detail", {})
    for name in ("outcome", "object_type", "object_id", "object_repr", "book_code", "digest"):
        fields.setdefault(name, AuditEvent._meta.get_field(name).get_default())
    fields["ip"] = _normal_ip(fields.get("ip"))
    event = AuditEvent.objects.create(mac=seal(event_content(**fields)), **fields)
    transaction.on_commit(_extend_quietly)
    return event


def _extend_quietly() -> None:
    # Linking is an after-commit step: if it fails here, the next event or the nightly verification links it.
    try:
        audit_chain_extend()
    except Exception:  # noqa: BLE001 - never fail the request that was recorded already
        logging.getLogger(__name__).exception("linking the audit trail failed; the nightly verification retries")


def audit_chain_extend(*, limit: int = 5000) -> int:
    """Link every committed event not yet in the chain, in the order they are found, under a lock on the
    chain's head (its own short transaction: never held while books are locked). Returns how many."""
    with transaction.atomic():
        head = AuditChain.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head = AuditChain.objects.create(pk=1)
        waiting = list(AuditEvent.objects.filter(link__isnull=True).order_by("id").values_list("id", "mac")[:limit])
        length, link = head.length, head.head
        links = []
        for event_id, mac in waiting:
            length += 1
            prev, link = link, seal(link.encode(), canonical([length, event_id, mac or ""]))
            links.append(AuditLink(event_id=event_id, seq=length, prev=prev, link=link))
        if not links:
            return 0
        AuditLink.objects.bulk_create(links)
        AuditChain.objects.filter(pk=1).update(length=length, head=link)
        transaction.on_commit(lambda: checkpoint_append(TRAIL, length=length, head=link))
    return len(links)


TRAIL = "audit-trail"


@transaction.atomic
def integrity_alert_acknowledge(*, alert, user, reason: str):
    """Someone who read the alert says what was found and done; the alert leaves the front page, the trail keeps it."""
    from .models import IntegrityAlert

    alert = IntegrityAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is None:
        alert.acknowledged_by, alert.acknowledged_at, alert.reason = user, timezone.now(), reason
        alert.save(update_fields=["acknowledged_by", "acknowledged_at", "reason"])
        _create(action=AuditEvent.Action.ALERT_ACKNOWLEDGED, actor=_actor(user, None), object_type="audit.integrityalert",
                object_id=str(alert.pk), object_repr=str(alert), detail={"reason": reason, "problems": alert.count})
    return alert


# -- the flood limit ------------------------------------------------------------------------------

def _from_outside(actor, request) -> bool:
    """A request with nobody signed in (a user named as actor, as at a sign-in, is somebody)."""
    if request is None:
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return False
    return not (hasattr(actor, "get_username") and getattr(actor, "is_authenticated", False))


def _source(request) -> str:
    """The address an event is counted against. An IPv6 client is counted by its /64: a subscriber
    is given a whole /64 and could take a new address for every request."""
    try:
        ip = ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").strip())
    except ValueError:
        return "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _window(now: datetime) -> tuple[datetime, datetime]:
    seconds = int(settings.AUDIT_FLOOD_WINDOW_SECONDS)
    start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)
    return start, start + timedelta(seconds=seconds)


def _count(source: str, action: str, start: datetime, end: datetime, now: datetime, column: str) -> tuple[int, int]:
    """Add one to `column` of the (source, window, action) counter, creating it if need be, in one
    statement: concurrent workers each get their own count back, none is lost. Returns (id, seen)."""
    q = connection.ops.quote_name
    table = q(FloodCounter._meta.db_table)
    at = connection.ops.adapt_datetimefield_value
    cols = ", ".join(q(c) for c in ("source", "action", "window_start", "window_end", "seen", "suppressed",
                                     "summarized", "last_at"))
    sql = (f"INSERT INTO {table} ({cols}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
           f"ON CONFLICT ({q('source')}, {q('window_start')}, {q('action')}) "
           f"DO UPDATE SET {q(column)} = {table}.{q(column)} + 1, {q('last_at')} = excluded.{q('last_at')} "
           f"RETURNING {q('id')}, {q('seen')}")
    seen, suppressed = (1, 0) if column == "seen" else (0, 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, [source, action, at(start), at(end), seen, suppressed, False, at(now)])
        row_id, seen = cursor.fetchone()
    return row_id, seen


def _record_limited(fields: dict, source: str) -> AuditEvent | None:
    now = timezone.now()
    start, end = _window(now)
    with transaction.atomic():
        # The source's own limit first: one noisy address cannot use up what all the others share.
        row_id, seen = _count(source, "", start, end, now, "seen")
        within = seen <= settings.AUDIT_FLOOD_PER_SOURCE
        if within:
            _, seen_all = _count(FloodCounter.ALL_SOURCES, "", start, end, now, "seen")
            within = seen_all <= settings.AUDIT_FLOOD_ALL_SOURCES
            if not within:
                FloodCounter.objects.filter(source=FloodCounter.ALL_SOURCES, window_start=start, action="",
                                            summarized=False).update(suppressed=F("suppressed") + 1)
        event = None
        if within or not FloodCounter.objects.filter(pk=row_id, summarized=False).update(
                suppressed=F("suppressed") + 1):
            # Within the limit; or (a request in flight across the window's end) its window is already
            # summed up, and the event itself keeps the count.
            event = _create(**fields)
        else:
            _count(source, fields["action"], start, end, now, "suppressed")
    if seen == 1:  # the source's first event of a window: the windows before may have ended
        audit_flood_summarize(now=now)
    return event


def audit_flood_summarize(*, now: datetime | None = None) -> int:
    """Write the summary events of every window that has ended: one per source that had events not
    written one by one (the most suppressed first; past AUDIT_FLOOD_SUMMARIES sources, one event for
    the rest together). Safe to run anywhere, twice, or in two processes at once. Returns how many
    summaries it wrote."""
    now = now or timezone.now()
    written = 0
    ended = sorted(set(FloodCounter.objects.filter(summarized=False, window_end__lte=now)
                       .values_list("window_start", flat=True).distinct()))
    if not ended:
        return 0
    for start in ended:
        with transaction.atomic():
            rows = FloodCounter.objects.select_for_update().filter(window_start=start, summarized=False)
            if not list(rows.order_by("id")):  # waits for workers still counting into this window
                continue
            # Read again once they are done: a breakdown row a worker added meanwhile is counted too.
            claimed = list(rows.order_by("id"))
            FloodCounter.objects.filter(pk__in=[r.pk for r in claimed]).update(summarized=True)
            written += _summaries(claimed)
    FloodCounter.objects.filter(summarized=True, window_end__lt=now - COUNTERS_KEPT).delete()
    return written


def _summaries(rows: list[FloodCounter]) -> int:
    by_action: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.action and r.suppressed:
            by_action.setdefault(r.source, {})[r.action] = r.suppressed
    sources = sorted((r for r in rows if not r.action and r.source != FloodCounter.ALL_SOURCES and r.suppressed),
                     key=lambda r: (-r.suppressed, r.source))
    if not sources:
        return 0
    first = sources[0]
    common = {
        "window_start": timezone.localtime(first.window_start).isoformat(timespec="seconds"),
        "window_end": timezone.localtime(first.window_end).isoformat(timespec="seconds"),
        "limit_per_source": settings.AUDIT_FLOOD_PER_SOURCE, "limit_all_sources": settings.AUDIT_FLOOD_ALL_SOURCES}
    shown = max(int(settings.AUDIT_FLOOD_SUMMARIES), 1)
    for r in sources[:shown]:
        _create(
            action=AuditEvent.Action.EVENTS_SUPPRESSED, actor="system", outcome=AuditEvent.Outcome.REFUSED,
            object_repr=r.source, ip=_address_of(r.source),
            detail={"source": r.source, "events": r.seen, "recorded": r.seen - r.suppressed,
                    "suppressed": r.suppressed, "by_action": by_action.get(r.source, {}), **common})
    rest = sources[shown:]
    if rest:
        merged: dict[str, int] = {}
        for r in rest:
            for action, n in by_action.get(r.source, {}).items():
                merged[action] = merged.get(action, 0) + n
        _create(
            action=AuditEvent.Action.EVENTS_SUPPRESSED, actor="system", outcome=AuditEvent.Outcome.REFUSED,
            object_repr=f"{len(rest)} more sources",
            detail={"sources": len(rest), "events": sum(r.seen for r in rest),
                    "recorded": sum(r.seen - r.suppressed for r in rest),
                    "suppressed": sum(r.suppressed for r in rest), "by_action": merged, **common})
    return min(len(sources), shown) + (1 if rest else 0)


def _address_of(source: str) -> str | None:
    try:
        return str(ipaddress.ip_network(source, strict=False).network_address)
    except ValueError:
        return None


def audit_flood_now() -> tuple[int, int]:
    """Sources over the limit in windows not yet summed up, and the events they had not written."""
    rows = FloodCounter.objects.filter(summarized=False, action="", suppressed__gt=0).exclude(
        source=FloodCounter.ALL_SOURCES)
    return rows.count(), sum(rows.values_list("suppressed", flat=True))
