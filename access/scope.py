"""Which rows a user may see: their regions' funds (each region with every region under it),
their insurers, and the books, contracts and statements of those. Superusers and scopes
marked `everything` see all. A user with no scope sees nothing.

One table (RULES) says how each model reaches a book, a fund or an insurer; the admin, the
report downloads and the commands all filter through `scope_filter`.
"""

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from accounts.models import Book, Fund, Region


@dataclass(frozen=True)
class UserScope:
    everything: bool = False
    region_ids: frozenset = field(default_factory=frozenset)
    fund_ids: frozenset = field(default_factory=frozenset)
    insurer_ids: frozenset = field(default_factory=frozenset)
    book_ids: frozenset = field(default_factory=frozenset)
    book_codes: frozenset = field(default_factory=frozenset)
    username: str = ""


def _subtree(roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pk, parent in Region.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    seen, todo = set(), list(roots)
    while todo:
        pk = todo.pop()
        if pk not in seen:
            seen.add(pk)
            todo.extend(children.get(pk, ()))
    return seen


def scope_of(user) -> UserScope:
    """The user's scope, computed once per request (cached on the user object)."""
    cached = getattr(user, "_access_scope", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active:
        result = UserScope()
    elif user.is_superuser:
        result = UserScope(everything=True, username=user.get_username())
    else:
        from .models import Scope

        scope = Scope.objects.filter(user=user).first()
        if scope is None:
            result = UserScope(username=user.get_username())
        elif scope.everything:
            result = UserScope(everything=True, username=user.get_username())
        else:
            regions = _subtree(set(scope.regions.values_list("pk", flat=True)))
            insurers = frozenset(scope.insurers.values_list("pk", flat=True))
            funds = frozenset(Fund.objects.filter(region__in=regions).values_list("pk", flat=True))
            books = Book.objects.filter(Q(fund__in=funds) | Q(insurer__in=insurers))
            result = UserScope(False, frozenset(regions), funds, insurers, frozenset(books.values_list("pk", flat=True)),
                               frozenset(books.values_list("code", flat=True)), user.get_username())
    user._access_scope = result
    return result


def _parties(prefix: str):
    return lambda s: Q(**{f"{prefix}fund__in": s.fund_ids}) | Q(**{f"{prefix}insurer__in": s.insurer_ids})


def _books(path: str):
    rule = lambda s: Q(**{f"{path}__in" if path else "pk__in": s.book_ids})  # noqa: E731
    rule.direct = True  # forward lookups only: no row repeats, so scope_filter needs no subquery
    return rule


def _everyone(s):
    return Q()


RULES = {
    # Regions of their funds, and of the funds their insurers serve.
    "accounts.region": lambda s: Q(pk__in=s.region_ids) | Q(funds__contracts__insurer__in=s.insurer_ids),
    "accounts.fund": lambda s: Q(pk__in=s.fund_ids) | Q(contracts__insurer__in=s.insurer_ids),
    "accounts.insurer": lambda s: Q(pk__in=s.insurer_ids) | Q(contracts__fund__in=s.fund_ids),
    "accounts.book": _books(""),
    "accounts.account": _books("book"),
    "ledger.period": _books("book"),
    "ledger.journalentry": _books("book"),
    "ledger.posting": _books("book"),
    "ledger.accountbalance": _books("book"),
    "ledger.opening": _books("book"),
    "ledger.openingline": _books("opening__book"),
    "ledger.attachment": _books("entry__book"),
    "contracts.contract": _parties(""),
    "contracts.contractyear": _parties("contract__"),
    "contracts.assessment": _parties("contract_year__contract__"),
    "contracts.premiumobligation": _parties(""),
    "contracts.premiumtransfer": _parties(""),
    "claims.claimbatch": _books("book"),
    "claims.claim": _books("book"),
    "claims.fundadvance": _parties(""),
    "reconciliation.settlement": _parties("contract_year__contract__"),
    "reconciliation.deadline": _parties("contract_year__contract__"),
    "reconciliation.bankstatement": _books("account__book"),
    "reconciliation.bankline": _books("statement__account__book"),
    "reports.reportrecord": _books("book"),
    "reports.reportjob": _books("book"),
    "audit.auditevent": lambda s: Q(book_code__in=s.book_codes) | Q(actor=s.username),
    # What the nightly verification found concerns the whole ledger: every auditor reads it.
    "audit.integrityalert": _everyone,
    # Published rules every region's staff may read.
    "claims.benefitpolicy": _everyone,
    "claims.hospital": _everyone,
    "claims.timelimit": _everyone,
    "claims.calendaryear": _everyone,
    "claims.calendarday": _everyone,
}


def scope_q(user, model) -> Q | None:
    """The filter for `model` under the user's scope; None when the user sees every row."""
    s = scope_of(user)
    if s.everything:
        return None
    rule = RULES.get(model._meta.label_lower)
    return rule(s) if rule else Q(pk__in=[])  # anything else (users, groups, schedules): administrators only


def scope_filter(qs: QuerySet, user) -> QuerySet:
    q = scope_q(user, qs.model)
    if q is None:
        return qs
    if getattr(RULES.get(qs.model._meta.label_lower), "direct", False):
        # Filtered in place: `pk IN (SELECT pk … WHERE book_id IN …)` made the database gather every id of the
        # user's books (millions of vouchers or claims) before reading a page of them.
        return qs.filter(q)
    # A subquery rather than a join: the rule's reverse lookups must not repeat rows.
    return qs.filter(pk__in=qs.model._default_manager.filter(q).values("pk"))


def in_scope(user, obj) -> bool:
    return scope_filter(type(obj)._default_manager.filter(pk=obj.pk), user).exists()
