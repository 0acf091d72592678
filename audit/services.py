"""Record what people and jobs do to the books. The lowest layer beside core: any app may call it."""

import hashlib
from pathlib import Path

from .models import AuditEvent


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
                 request=None, outcome: str = AuditEvent.Outcome.OK) -> AuditEvent:
    """One event. `actor`: a user, a name or None (the request's user, else "system");
    `book`: a Book or its code (default: the object's book, or the object itself if a book)."""
    if book is None and obj is not None:
        book = getattr(obj, "book", None) or (obj if type(obj).__name__ == "Book" else None)
    book_code = getattr(book, "code", book) or ""
    return AuditEvent.objects.create(
        action=action, actor=_actor(actor, request), outcome=outcome, digest=digest, detail=detail or {},
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "", object_repr=str(obj)[:300] if obj is not None else "",
        book_code=str(book_code)[:32], ip=request.META.get("REMOTE_ADDR") if request is not None else None)
