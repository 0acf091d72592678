"""Advances of the basic medical-insurance fund that the 大病保险 must bear (基本医保先行垫付), in both books.

晋医保发〔2019〕52号: 基本医保先行垫付的应由大病保险承担的费用，在当年约定保费按期到账的情况下，大病保险承办
机构在收到相关资料10个工作日内划转医保经办机构. Each side books in its own book only, prepared by its
accountant and posted by its reviewer (the shape of contracts.services transfer_record / transfer_approve):

- the fund's accountant records the advance: Dr 1101 暂付款 (the insurer) / Cr 1004 支出户存款;
- the insurer's accountant records receiving the materials: Dr 6511 赔付支出 / Cr 224103 应付医保垫付款
  (the fund); the repayment is then due within the policy's time limit (TimeLimit kind "advance");
- the insurer's accountant records the repayment: Dr 224103 / Cr 1002 银行存款; the fund's accountant its
  receipt: Dr 1002 收入户存款 / Cr 1101.

Every voucher carries the advance's reference in brackets at the end of its 摘要, so the fund ↔ insurer
reconciliation pairs the two books' lines by it.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from access.scope import in_scope, scope_filter
from accounts.models import Book
from accounts.services import account_create
from audit.services import audit_record
from contracts.models import ContractYear, PremiumObligation
from contracts.services import _book_of, _ensure_open_year, _side_of
from core.errors import Refused, lazy_format, problem
from core.money import AmountError, to_decimal
from ledger.models import JournalEntry
from ledger.services import Line, entry_draft_post, entry_draft_save

from .deadlines import days_late, due_on, limit_for
from .models import Claim, ClaimBatch, FundAdvance, TimeLimit
from .workdays import WorkCalendar

FUND, INSURER = "fund", "insurer"
PAYABLE = "224103"  # 其他应付款—应付医保垫付款 (data/charts/insurer.json)
SOURCE = "fund-advance"
ENTRIES = ("fund_entry", "insurer_entry", "insurer_repay_entry", "fund_repay_entry")


def _label(reference: str):
    return lazy_format(_("advance %(ref)s"), ref=reference)


def _draft(book: Book, on: date, memo: str, lines: list, user, key: str) -> JournalEntry:
    _ensure_open_year(book, on.year)
    return entry_draft_save(book=book, date=on, memo=memo, lines=lines, made_by=user, source=SOURCE,
                            idempotency_key=key)


def payable_account_ensure(*, book: Book) -> None:
    """Books opened before the sub-account was in the chart get it now (a sub-account of 2241, idempotent)."""
    account_create(book=book, parent_code="2241", code=PAYABLE, name="应付医保垫付款")


@transaction.atomic
def advance_record(*, reference: str, contract_year: ContractYear, amount, advanced_on: date, user,
                   memo: str = "") -> FundAdvance:
    """The fund's accountant records an advance the 大病保险 must bear: a draft Dr 1101 / Cr 1004 in the
    fund's book for its reviewer. The same reference with the same content returns the existing one."""
    label = _label(reference)
    contract = contract_year.contract
    fund, insurer = contract.fund, contract.insurer
    try:
        amount_dec = to_decimal(amount)
    except AmountError as exc:
        raise Refused([problem(label, _("amount"), _("a CNY amount with at most 2 decimals"), exc)]) from None
    side = _side_of(user, fund, insurer, label)
    ContractYear.objects.select_for_update().get(pk=contract_year.pk)
    existing = FundAdvance.objects.filter(reference=reference).first()
    if existing is not None:
        if (existing.amount.amount, existing.advanced_on, existing.contract_year_id) != (
                amount_dec, advanced_on, contract_year.pk):
            raise Refused([problem(label, _("reference"),
                                   lazy_format(_("the same advance as recorded on %(date)s"), date=existing.advanced_on),
                                   _("a different advance under the same reference"))])
        return existing
    problems = []
    if side != FUND:
        problems.append(problem(label, _("user"), lazy_format(_("an accountant of %(fund)s (the fund advances)"),
                                                              fund=fund), user.get_username()))
    if amount_dec <= 0:
        problems.append(problem(label, _("amount"), _("above 0"), amount_dec))
    if problems:
        raise Refused(problems)
    a = FundAdvance(reference=reference, fund=fund, insurer=insurer, contract_year=contract_year, amount=amount_dec,
                    advanced_on=advanced_on, memo=memo, created_by=user)
    a.fund_entry = _draft(_book_of(fund, "fund"), advanced_on,
                          f"基本医保先行垫付应由大病保险承担的费用（{reference}）",
                          [Line("1101", debit=amount_dec, counterparty=insurer.name), Line("1004", credit=amount_dec)],
                          user, f"advance:{reference}")
    a.save()
    audit_record(action="transfer_recorded", actor=user, obj=a, book=a.fund_entry.book,
                 detail={"kind": "fund advance", "side": FUND, "amount": f"{amount_dec:.2f}",
                         "on": advanced_on.isoformat()})
    return a


def _locked(advance: FundAdvance) -> FundAdvance:
    return FundAdvance.objects.select_for_update(of=("self",)).select_related(
        "fund", "insurer", "contract_year").get(pk=advance.pk)


@transaction.atomic
def advance_materials_receive(*, advance: FundAdvance, received_on: date, user,
                              claims_batch: ClaimBatch | None = None) -> FundAdvance:
    """The insurer's accountant records receiving the advance's materials: its liability to the fund,
    Dr 6511 / Cr 224103, drafted for its reviewer; the repayment is due within the policy's time limit
    counted from the day after. Receiving again changes nothing.

    Materials imported as a claims batch (channel 垫付还款, each person's episode in the claims sub-ledger)
    were booked by that batch's posting (Dr 6511 / Cr 224103, the fund as counterparty): naming the batch
    links it and drafts no second voucher, so the expense is counted once. Its advance-channel claims of
    the advance's year must add up to the advance, and a batch serves one advance.
    """
    a = _locked(advance)
    label = _label(a.reference)
    side = _side_of(user, a.fund, a.insurer, label)
    if a.materials_received_on is not None:
        return a
    problems = []
    if claims_batch is not None:
        problems += _batch_problems(a, claims_batch, label)
    if side != INSURER:
        problems.append(problem(label, _("user"), lazy_format(_("an accountant of %(insurer)s (the insurer repays)"),
                                                              insurer=a.insurer), user.get_username()))
    if received_on < a.advanced_on:
        problems.append(problem(label, _("materials_received_on"),
                                lazy_format(_("on or after the advance %(date)s"), date=a.advanced_on), received_on))
    # A policy without a time limit for repaying advances (Shandong's document sets none) tracks no due date:
    # the advance is recorded and repaid all the same, and never listed as overdue.
    limit = limit_for(policy=a.contract_year.benefit_policy, kind=TimeLimit.Kind.ADVANCE)
    if problems:
        raise Refused(problems)
    a.due_on = None if limit is None else due_on(limit=limit, received_on=received_on, what=_("materials_received_on"))
    a.materials_received_on = received_on
    book = _book_of(a.insurer, "insurer")
    if claims_batch is not None:
        a.claims_batch = claims_batch
    else:
        payable_account_ensure(book=book)
        amount = a.amount.amount
        a.insurer_entry = _draft(book, received_on, f"应划转医保经办机构的基本医保垫付款（{a.reference}）",
                                 [Line("6511", debit=amount), Line(PAYABLE, credit=amount, counterparty=a.fund.name)],
                                 user, f"advance:{a.reference}")
    a.save(update_fields=["insurer_entry", "claims_batch", "materials_received_on", "due_on"])
    audit_record(action="transfer_recorded", actor=user, obj=a, book=book,
                 detail={"kind": "advance materials", "side": INSURER, "on": received_on.isoformat(),
                         "due": a.due_on.isoformat() if a.due_on else None, "claims_batch": claims_batch.pk if claims_batch else None})
    return a


def _batch_problems(a: FundAdvance, batch: ClaimBatch, label) -> list[dict]:
    batch = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
    problems = []
    if batch.contract_id != a.contract_year.contract_id:
        problems.append(problem(label, _("claims_batch"), lazy_format(_("a batch of contract %(code)s"),
                                                                      code=a.contract_year.contract.code),
                                batch.contract.code))
    if batch.status != ClaimBatch.Status.POSTED:
        problems.append(problem(label, _("claims_batch"), _("a batch reviewed and posted"), batch.get_status_display()))
    other = FundAdvance.objects.filter(claims_batch=batch).exclude(pk=a.pk).first()
    if other is not None:
        problems.append(problem(label, _("claims_batch"), _("a batch no other advance names"), other.reference))
    total = batch.claims.filter(channel=Claim.Channel.ADVANCE).filter(
        Q(charged_to=a.contract_year) | Q(charged_to__isnull=True, contract_year=a.contract_year)
    ).aggregate(s=Sum("paid"))["s"]
    total = total.amount if total is not None else Decimal("0.00")
    if total != a.amount.amount:
        problems.append(problem(label, _("claims_batch"),
                                lazy_format(_("advance-channel claims of %(year)s adding up to %(amount)s"),
                                            year=a.contract_year, amount=f"{a.amount.amount:,.2f}"),
                                f"{total:,.2f}"))
    return problems


@transaction.atomic
def advance_repay(*, advance: FundAdvance, on: date, user) -> FundAdvance:
    """Each side records the repayment in its own book: the insurer Dr 224103 / Cr 1002 (the day it pays),
    the fund Dr 1002 / Cr 1101 (the day it receives). Recording again changes nothing."""
    a = _locked(advance)
    label = _label(a.reference)
    side = _side_of(user, a.fund, a.insurer, label)
    entry_field = "insurer_repay_entry" if side == INSURER else "fund_repay_entry"
    if getattr(a, f"{entry_field}_id") is not None:
        return a
    amount, problems = a.amount.amount, []
    if side == INSURER:
        if a.materials_received_on is None:
            problems.append(problem(label, _("materials_received_on"),
                                    _("the materials recorded as received first"), _("none")))
        elif on < a.materials_received_on:
            problems.append(problem(label, _("repaid_on"), lazy_format(
                _("on or after the materials were received, %(date)s"), date=a.materials_received_on), on))
    elif a.repaid_on is not None and on < a.repaid_on:
        problems.append(problem(label, _("received_on"),
                                lazy_format(_("on or after the repayment date %(date)s"), date=a.repaid_on), on))
    elif on < a.advanced_on:
        problems.append(problem(label, _("received_on"),
                                lazy_format(_("on or after the advance %(date)s"), date=a.advanced_on), on))
    if problems:
        raise Refused(problems)
    key = f"advance:{a.reference}:repaid"
    memo = f"偿还基本医保先行垫付款（{a.reference}）"
    if side == INSURER:
        book = _book_of(a.insurer, "insurer")
        a.insurer_repay_entry = _draft(book, on, memo, [Line(PAYABLE, debit=amount, counterparty=a.fund.name),
                                                        Line("1002", credit=amount)], user, key)
        a.repaid_on = on
        a.save(update_fields=["insurer_repay_entry", "repaid_on"])
    else:
        book = _book_of(a.fund, "fund")
        a.fund_repay_entry = _draft(book, on, f"收回{memo}", [Line("1002", debit=amount),
                                                             Line("1101", credit=amount,
                                                                  counterparty=a.insurer.name)], user, key)
        a.received_on = on
        a.save(update_fields=["fund_repay_entry", "received_on"])
    audit_record(action="transfer_recorded", actor=user, obj=a, book=book,
                 detail={"kind": "advance repayment", "side": side, "on": on.isoformat()})
    return a


@transaction.atomic
def advance_approve(*, advance: FundAdvance, user) -> list:
    """A reviewer posts the advance's drafts that lie in the books of their scope (never their own).
    Returns the vouchers posted; refused when nothing of this advance awaits them."""
    a = FundAdvance.objects.select_for_update().get(pk=advance.pk)
    posted = []
    for name in ENTRIES:
        entry = getattr(a, name)
        if entry is not None and not entry.is_posted and in_scope(user, entry.book):
            posted.append(entry_draft_post(entry=entry, reviewed_by=user))
    if not posted:
        raise Refused([problem(_label(a.reference), _("status"),
                               _("a voucher of this advance awaiting your review"), _("none in your books"))])
    return posted


# What each withdrawn draft leaves unrecorded.
_CLEARS = {"insurer_entry": ("materials_received_on", "due_on"), "insurer_repay_entry": ("repaid_on",),
           "fund_repay_entry": ("received_on",), "fund_entry": ()}


@transaction.atomic
def advance_withdraw(*, advance: FundAdvance, user) -> bool:
    """Withdraw the drafts of an advance this user prepared (an administrator: every draft); a posted voucher
    stays and is corrected by reversal. The advance's own voucher goes last: withdrawing it while the other
    side has recorded anything is refused. Returns True when the advance is gone."""
    a = FundAdvance.objects.select_for_update().get(pk=advance.pk)
    label = _label(a.reference)
    mine = [name for name in ENTRIES if (e := getattr(a, name)) is not None and not e.is_posted
            and (e.made_by_id == getattr(user, "pk", None) or is_administrator(user))]
    if not mine:
        raise Refused([problem(label, _("status"), _("a draft of this advance you prepared"),
                               _("none (posted vouchers are corrected by reversal)"))])
    others = [name for name in ENTRIES if name != "fund_entry" and name not in mine and getattr(a, name) is not None]
    if "fund_entry" in mine and others:
        raise Refused([problem(label, _("fund_entry"), _("withdrawn after the other vouchers of the advance"),
                               _("other vouchers recorded"))])
    entries = [(name, getattr(a, name)) for name in mine]
    audit_record(action="deleted", actor=user, obj=a, book=entries[0][1].book,
                 detail={"reference": a.reference, "amount": f"{a.amount.amount:.2f}", "drafts": mine})
    for name in mine:
        setattr(a, name, None)
        for f in _CLEARS[name]:
            setattr(a, f, None)
    gone = all(getattr(a, f"{name}_id") is None for name in ENTRIES)
    if gone:
        a.delete()
    else:
        a.save()
    for _name, entry in entries:
        entry.postings.all().delete()
        entry.delete()
    return gone


# -- what is late -------------------------------------------------------------------------------


def _posted(entry: JournalEntry | None) -> bool:
    return entry is not None and entry.status == JournalEntry.Status.POSTED


def repaid_on(a: FundAdvance) -> date | None:
    """When the insurer repaid, as the books say: its posted repayment voucher, else the fund's posted receipt."""
    if _posted(a.insurer_repay_entry):
        return a.repaid_on
    if _posted(a.fund_repay_entry):
        return a.received_on
    return None


def premium_late(contract_year: ContractYear, as_of: date) -> list[PremiumObligation]:
    """The year's premium obligations marked overdue by `as_of` (contracts' daily check): 002 sets the time
    limits "在当年约定保费按期到账的情况下", so the overdue list shows it beside each item."""
    return list(PremiumObligation.objects.filter(contract_year=contract_year, overdue_since__isnull=False,
                                                 overdue_since__lte=as_of).order_by("due_date"))


@dataclass
class Late:
    advance: FundAdvance
    due_on: date
    repaid_on: date | None
    working_days_late: int
    premium_late: list = field(default_factory=list)

    @property
    def premium_on_schedule(self) -> bool:
        return not self.premium_late


def advance_lateness(a: FundAdvance, as_of: date, cal: WorkCalendar | None = None) -> Late | None:
    """The advance's lateness at `as_of`: repaid after its due date, or still unrepaid after it; else None."""
    if a.due_on is None:
        return None
    done = repaid_on(a)
    until = done if done is not None else as_of
    if until <= a.due_on:
        return None
    limit = limit_for(policy=a.contract_year.benefit_policy, kind=TimeLimit.Kind.ADVANCE)
    cal = cal or WorkCalendar()
    late = (cal.workdays_between(a.due_on, until) if limit is None
            else days_late(limit=limit, due=a.due_on, done_on=until, cal=cal))
    return Late(a, a.due_on, done, late, premium_late(a.contract_year, as_of))


def advances_overdue(*, as_of: date, user=None) -> list[Late]:
    """Advances repaid late or still unrepaid after their due date, as of a day (within the user's scope)."""
    qs = FundAdvance.objects.filter(due_on__lt=as_of).select_related(
        "contract_year__contract", "fund", "insurer", "insurer_repay_entry", "fund_repay_entry").order_by("due_on")
    if user is not None:
        qs = scope_filter(qs, user)
    cal = WorkCalendar()
    return [late for a in qs if (late := advance_lateness(a, as_of, cal)) is not None]


@transaction.atomic
def advances_overdue_mark(*, as_of: date) -> int:
    """Mark advances newly overdue as of a day (the day after their due date), each in the audit trail;
    marking again changes nothing. Returns how many were newly marked."""
    marked = 0
    for late in advances_overdue(as_of=as_of):
        a = late.advance
        if a.overdue_since is not None:
            continue
        since = a.due_on + timedelta(days=1)
        # A conditional update: a second worker racing this one finds the mark set and updates nothing.
        if FundAdvance.objects.filter(pk=a.pk, overdue_since__isnull=True).update(overdue_since=since):
            marked += 1
            audit_record(action="overdue_marked", actor="task advances_overdue_check", obj=a,
                         book=_book_of(a.insurer, "insurer"),
                         detail={"kind": "fund advance", "due": a.due_on.isoformat(), "as_of": as_of.isoformat(),
                                 "working_days_late": late.working_days_late,
                                 "premium_on_schedule": late.premium_on_schedule})
    return marked

