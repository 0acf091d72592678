"""Writes for contracts: the year's terms, premium obligations, transfers in both books, overdue marks."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from access.scope import in_scope
from access.sides import party_side
from accounts.models import Book, Fund, Insurer, Region
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem
from core.money import AmountError, quantize, to_decimal, to_fen
from ledger.models import Period
from ledger.services import Line, entry_draft_post, entry_draft_save, fiscal_year_open

from .models import Contract, ContractYear, ContractYearRegion, PremiumObligation, PremiumTransfer


@transaction.atomic
def contract_create(*, code: str, name: str, fund: Fund, insurer: Insurer, first_year: int, last_year: int,
                    tender_reference: str = "", source: str = "") -> Contract:
    """A contract; creating it again with the same code returns the existing one."""
    existing = Contract.objects.filter(code=code).first()
    if existing is not None:
        if (existing.fund_id, existing.insurer_id) != (fund.pk, insurer.pk):
            raise Refused([problem(lazy_format(_("contract %(code)s"), code=code), _("code"),
                                   _("a code no other contract has"),
                                   lazy_format(_("already %(fund)s × %(insurer)s"), fund=existing.fund,
                                               insurer=existing.insurer))])
        return existing
    if first_year > last_year:
        raise Refused([problem(lazy_format(_("contract %(code)s"), code=code), _("years"), _("first year ≤ last year"),
                               f"{first_year}–{last_year}")])
    return Contract.objects.create(code=code, name=name, fund=fund, insurer=insurer, first_year=first_year,
                                   last_year=last_year, tender_reference=tender_reference, source=source)


def _pct(value, label, field, problems) -> Decimal | None:
    try:
        pct = Decimal(str(value))
    except Exception:
        problems.append(problem(label, field, _("a percentage"), value))
        return None
    if not (0 <= pct <= 100):
        problems.append(problem(label, field, _("a percentage 0–100"), value))
        return None
    return pct


def _check_tranches(tranches, deposit_pct: Decimal, year: int, label: str, problems: list) -> list[tuple[date, Decimal]]:
    checked, last_due, last_pct = [], None, Decimal(0)
    for n, t in enumerate(tranches, start=1):
        try:
            due = date.fromisoformat(str(t["due"]))
        except (KeyError, ValueError):
            problems.append(problem(label, lazy_format(_("tranche %(n)s due"), n=n), _("a date YYYY-MM-DD"),
                                    t.get("due")))
            continue
        pct = _pct(t.get("cumulative_pct"), label, lazy_format(_("tranche %(n)s cumulative_pct"), n=n), problems)
        if pct is None:
            continue
        if last_due is not None and due <= last_due:
            problems.append(problem(label, lazy_format(_("tranche %(n)s due"), n=n),
                                    lazy_format(_("a date after %(date)s"), date=last_due), due))
        if pct <= last_pct:
            problems.append(problem(label, lazy_format(_("tranche %(n)s cumulative_pct"), n=n),
                                    lazy_format(_("above %(pct)s%%"), pct=last_pct), f"{pct}%"))
        last_due, last_pct = due, pct
        checked.append((due, pct))
    if not checked:
        problems.append(problem(label, _("tranches"), _("at least one tranche"), _("none")))
    elif last_pct + deposit_pct != 100:
        problems.append(problem(label, _("tranches"), _("the last cumulative share plus the deposit = 100%"),
                                f"{last_pct}% + {deposit_pct}%"))
    return checked


@transaction.atomic
def contract_year_create(
    *, contract: Contract, year: int, tranches: list[dict], basis: str = ContractYear.Basis.PER_CAPITA,
    per_capita=None, insured_count: int | None = None, fixed_total=None, deposit_pct="0",
    settlement_terms: dict | None = None, benefit_policy: str = "", operating_cost="0",
    cutoff: date | None = None, report_due: date | None = None, settle_due: date | None = None, notes: str = "",
) -> ContractYear:
    """A year's terms, checked whole; cut-off, report and settle dates default to Shanxi's Mar 31 / May 31 / Jun 30."""
    label = lazy_format(_("contract %(code)s year %(year)s"), code=contract.code, year=year)
    problems = []
    existing = ContractYear.objects.filter(contract=contract, year=year).first()
    if existing is not None:
        return existing
    if not (contract.first_year <= year <= contract.last_year):
        problems.append(problem(label, _("year"), lazy_format(_("a year of the contract, %(first)s–%(last)s"),
                                                               first=contract.first_year, last=contract.last_year),
                                year))
    premium = None
    try:
        if basis == ContractYear.Basis.PER_CAPITA:
            if per_capita is None or not insured_count or insured_count <= 0:
                problems.append(problem(label, _("premium"), _("a per-capita standard and an insured count above 0"),
                                        f"{per_capita} × {insured_count}"))
            else:
                premium = quantize(to_decimal(per_capita) * insured_count)
        elif basis == ContractYear.Basis.FIXED_TOTAL:
            premium = to_decimal(fixed_total)
        else:
            problems.append(problem(label, _("basis"), _("per_capita or fixed_total"), basis))
    except AmountError as exc:
        problems.append(problem(label, _("premium"), _("a CNY amount"), exc))
    if premium is not None and premium <= 0:
        problems.append(problem(label, _("premium"), _("above 0"), premium))
    deposit = _pct(deposit_pct, label, _("deposit_pct"), problems) or Decimal(0)
    _check_tranches(tranches, deposit, year, label, problems)
    if problems:
        raise Refused(problems)
    return ContractYear.objects.create(
        contract=contract, year=year, basis=basis, per_capita=per_capita if basis == "per_capita" else None,
        insured_count=insured_count if basis == "per_capita" else None, premium=premium, tranches=tranches,
        deposit_pct=deposit, settlement_terms=settlement_terms or {}, benefit_policy=benefit_policy,
        operating_cost=operating_cost, cutoff=cutoff or date(year + 1, 3, 31),
        report_due=report_due or date(year + 1, 5, 31), settle_due=settle_due or date(year + 1, 6, 30), notes=notes,
    )


def _ancestors(region: Region) -> list[Region]:
    chain, node = [], region.parent
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain


@transaction.atomic
def contract_year_regions_set(*, contract_year: ContractYear, regions: list[tuple[Region, int]]
                              ) -> list[ContractYearRegion]:
    """The pooling regions a contract year's insurer serves, each with its insured count.

    Checked whole: every region lies within the fund's region; none is listed twice; no region (nor one
    above or below it) is served that year by another contract; the counts add up to the year's insured
    count. Setting the same regions again returns them; a different set for a year that has one is refused.
    """
    cy = ContractYear.objects.select_for_update().select_related("contract__fund__region").get(pk=contract_year.pk)
    label = lazy_format(_("contract %(code)s year %(year)s"), code=cy.contract.code, year=cy.year)
    wanted = {(r.pk, int(n)) for r, n in regions}
    existing = list(cy.regions.select_related("region").order_by("region__code"))
    if existing:
        if {(x.region_id, x.insured_count) for x in existing} == wanted and len(wanted) == len(regions):
            return existing
        raise Refused([problem(label, _("regions"), _("the regions as assigned before"),
                               "、".join(f"{x.region.code} {x.region}" for x in existing))])
    problems = []
    home = cy.contract.fund.region
    seen = set()
    taken = {x.region_id: x for x in ContractYearRegion.objects.filter(year=cy.year).exclude(contract_year=cy)
             .select_related("region", "contract_year__contract__insurer")}
    for region, count in regions:
        where = lazy_format(_("region %(code)s %(name)s"), code=region.code, name=region.name)
        if region.pk in seen:
            problems.append(problem(where, _("region"), _("each region listed once"), _("listed twice")))
            continue
        seen.add(region.pk)
        if home.pk not in {a.pk for a in _ancestors(region)}:
            problems.append(problem(where, _("region"), lazy_format(_("a region within %(home)s"), home=home),
                                    region.parent or _("(none)")))
        if not isinstance(count, int) or count <= 0:
            problems.append(problem(where, _("insured_count"), _("a whole number above 0"), count))
        related = [region, *_ancestors(region)]
        clash = next((taken[r.pk] for r in related if r.pk in taken), None)
        if clash is None:
            clash = next((x for x in taken.values() if region.pk in {a.pk for a in _ancestors(x.region)}), None)
        if clash is not None:
            problems.append(problem(where, _("region"),
                                    lazy_format(_("a region no other insurer serves in %(year)s"), year=cy.year),
                                    lazy_format(_("served by %(insurer)s under contract %(code)s (%(region)s)"),
                                                insurer=clash.contract_year.contract.insurer,
                                                code=clash.contract_year.contract.code, region=clash.region)))
    total = sum(n for _r, n in regions if isinstance(n, int))
    if cy.insured_count is not None and total != cy.insured_count:
        problems.append(problem(label, _("insured_count"),
                                lazy_format(_("the regions' counts adding up to %(count)s"), count=f"{cy.insured_count:,}"),
                                f"{total:,}"))
    if not regions:
        problems.append(problem(label, _("regions"), _("at least one region"), _("none")))
    if problems:
        raise Refused(problems)
    return [ContractYearRegion.objects.create(contract_year=cy, region=r, year=cy.year, insured_count=n)
            for r, n in regions]


def split_fen(total_fen: int, weights: list[int]) -> list[int]:
    """`total_fen` in parts proportional to `weights`, each rounded half up, the last part the remainder, so
    the parts add up to the whole."""
    whole = sum(weights)
    parts = [int((Decimal(total_fen) * w / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP)) for w in weights[:-1]]
    return [*parts, total_fen - sum(parts)]


@transaction.atomic
def obligations_generate(*, contract_year: ContractYear) -> list[PremiumObligation]:
    """Each tranche and the deposit as an obligation; the parts add up exactly to the premium.

    Every cumulative share is rounded once (half up) and each tranche is the difference
    of consecutive cumulative amounts; the deposit takes the remainder. When the year has
    assigned regions, each tranche (and the deposit) is split among them by insured count,
    the last region taking the remainder, so each region's agency owes its own part.
    Running it again creates nothing new (nor splits what was made before regions were set).
    """
    cy = contract_year
    contract = cy.contract
    made_before = list(cy.obligations.filter(kind__in=[PremiumObligation.Kind.TRANCHE, PremiumObligation.Kind.DEPOSIT])
                       .order_by("sequence", "region__code", "pk"))
    if made_before:
        return made_before
    assigned = list(cy.regions.select_related("region").order_by("region__code"))
    total_fen = to_fen(cy.premium)
    made, previous_fen = [], 0
    base = f"{contract.code}/{cy.year}"
    tranches = sorted(cy.tranches, key=lambda t: t["due"])
    for n, t in enumerate(tranches, start=1):
        share = Decimal(str(t["cumulative_pct"])) / 100
        cumulative_fen = int((total_fen * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        amount_fen = cumulative_fen - previous_fen
        previous_fen = cumulative_fen
        made.append(dict(key=f"{base}/tranche/{n}", kind=PremiumObligation.Kind.TRANCHE, sequence=n,
                         due_date=date.fromisoformat(str(t["due"])), amount_fen=amount_fen,
                         description=f"{cy.year}年大病保险保费第{n}期（累计{t['cumulative_pct']}%）"))
    if total_fen > previous_fen:
        made.append(dict(key=f"{base}/deposit", kind=PremiumObligation.Kind.DEPOSIT, sequence=len(made) + 1,
                         due_date=None, amount_fen=total_fen - previous_fen,
                         description=f"{cy.year}年大病保险服务保证金（{cy.deposit_pct}%，考核后支付）"))
    result = []
    for m in made:
        parts = [(None, m["amount_fen"], cy.insured_count, m["key"], m["description"])]
        if assigned:
            fens = split_fen(m["amount_fen"], [a.insured_count for a in assigned])
            parts = [(a.region, fen, a.insured_count, f"{m['key']}/{a.region.code}", f"{m['description']} {a.region}")
                     for a, fen in zip(assigned, fens, strict=True) if fen > 0]
        for region, fen, count, key, description in parts:
            ob, _created = PremiumObligation.objects.get_or_create(
                key=key,
                defaults=dict(fund=contract.fund, insurer=contract.insurer, contract_year=cy, year=cy.year,
                              kind=m["kind"], sequence=m["sequence"], description=description,
                              amount=Decimal(fen) / 100, due_date=m["due_date"], region=region,
                              insured_count=count, source=f"承办合同 {contract.code}"),
            )
            result.append(ob)
    return result


# -- transfers ---------------------------------------------------------------------


def _book_of(owner, kind: str) -> Book:
    books = list(Book.objects.filter(**{kind: owner}))
    if len(books) != 1:
        expected = {"fund": _("exactly one fund book"), "insurer": _("exactly one insurer book")}[kind]
        raise Refused([problem(str(owner), _("book"), expected, len(books))])
    return books[0]


def _ensure_open_year(book: Book, year: int) -> None:
    if not Period.objects.filter(book=book, year=year).exists():
        fiscal_year_open(book=book, year=year)


def _lock_total(*, contract_year=None, obligation=None) -> None:
    """Lock the row that owns what is owed, so two payments recorded at once are checked one after the other.

    A contract year owns its tranches and deposit; a top-up obligation (no contract year) owns itself.
    """
    cy_id = contract_year.pk if contract_year is not None else getattr(obligation, "contract_year_id", None)
    if cy_id is not None:
        ContractYear.objects.select_for_update().get(pk=cy_id)
    if obligation is not None:
        PremiumObligation.objects.select_for_update().get(pk=obligation.pk)


def _paid_fen(transfers) -> int:
    total = transfers.aggregate(s=Sum("amount"))["s"]
    return to_fen(total) if total is not None else 0


def _outstanding_fen(*, contract_year=None, obligation=None) -> int:
    """What is still owed, net of every transfer recorded (approved or awaiting approval).

    A payment against one obligation of a contract year counts against the year's total too, so
    neither the obligation nor the year can be paid beyond what is owed.
    """
    if obligation is not None:
        owed = to_fen(obligation.amount) - to_fen(obligation.forfeited)
        left = owed - _paid_fen(PremiumTransfer.objects.filter(obligation=obligation))
        if obligation.contract_year_id is None:
            return left
        return min(left, _outstanding_fen(contract_year=obligation.contract_year))
    agg = contract_year.obligations.aggregate(s=Sum("amount"), f=Sum("forfeited"))
    owed = to_fen(agg["s"] or 0) - to_fen(agg["f"] or 0)
    paid = PremiumTransfer.objects.filter(Q(contract_year=contract_year) | Q(obligation__contract_year=contract_year))
    return owed - _paid_fen(paid)


def _what(t: PremiumTransfer) -> str:
    return t.obligation.description if t.obligation is not None else f"{t.year}年大病保险保费"


def _half_draft(t: PremiumTransfer, side: str, user, on: date) -> None:
    """Draft the side's own voucher for the transfer, in its own book only, for its reviewer."""
    amount = t.amount.amount
    if side == PremiumTransfer.Side.FUND:
        book = _book_of(t.fund, "fund")
        memo = f"拨付{_what(t)}（{t.reference}）"
        lines = [Line("5101", debit=amount, counterparty=t.insurer.name), Line("1004", credit=amount)]
    else:
        book = _book_of(t.insurer, "insurer")
        income = "2203" if on.year < t.year else "6031"  # money that arrives before its policy year is 预收
        memo = f"收到{_what(t)}（{t.reference}）"
        lines = [Line("1002", debit=amount), Line(income, credit=amount, counterparty=t.fund.name)]
    _ensure_open_year(book, on.year)
    entry = entry_draft_save(book=book, date=on, memo=memo, lines=lines, made_by=user, source="premium-transfer",
                             idempotency_key=f"transfer:{t.reference}")
    setattr(t, f"{side}_entry", entry)


def _side_of(user, fund, insurer, label: str) -> str:
    side = party_side(user, fund=fund, insurer=insurer)
    if side is None:
        raise Refused([problem(label, _("user"),
                               lazy_format(_("an accountant of %(fund)s or of %(insurer)s (the side follows from the role)"),
                                           fund=fund, insurer=insurer),
                               getattr(user, "username", None) or _("nobody"))])
    return side


@transaction.atomic
def transfer_record(
    *, reference: str, amount, paid_on: date, insurer: Insurer, user, contract_year: ContractYear | None = None,
    obligation: PremiumObligation | None = None, memo: str = "", received_on: date | None = None,
) -> PremiumTransfer:
    """A fund's or an insurer's accountant records a premium payment fund → insurer.

    The side is the user's own (access.sides): the fund's accountant drafts Dr 5101 大病保险支出 /
    Cr 1004 支出户存款 in the fund's book; the insurer's drafts Dr 1002 银行存款 / Cr 6031 保费收入
    (2203 预收保费 before the policy year) in the insurer's. The draft counts once a reviewer other
    than its maker posts it; the other side confirms by drafting its own. What is still owed is
    checked under a lock on the contract year (or the top-up obligation), counting every transfer
    recorded, so payments recorded at the same moment can never add up to more than is owed.
    The same reference with the same content returns the existing transfer.
    """
    label = lazy_format(_("transfer %(ref)s"), ref=reference)
    if (contract_year is None) == (obligation is None):
        raise Refused([problem(label, _("against"), _("a contract year or one obligation"), _("both or neither"))])
    if obligation is not None and obligation.kind == PremiumObligation.Kind.CARRIED:
        raise Refused([problem(label, _("obligation"), _("a premium paid in money (a carried surplus is booked "
                                                         "with the prior year's settlement)"),
                               obligation.get_kind_display())])
    if obligation is not None:
        fund, year, cy, party = obligation.fund, obligation.year, obligation.contract_year, obligation.insurer
    else:
        cy = contract_year
        fund, year, party = cy.contract.fund, cy.year, cy.contract.insurer
    try:
        amount_dec = to_decimal(amount)
    except AmountError as exc:
        raise Refused([problem(label, _("amount"), _("a CNY amount with at most 2 decimals"), exc)]) from None
    side = _side_of(user, fund, insurer, label)
    _lock_total(contract_year=contract_year, obligation=obligation)
    existing = PremiumTransfer.objects.filter(reference=reference).first()
    if existing is not None:
        same = (existing.amount.amount == amount_dec and existing.paid_on == paid_on
                and existing.insurer_id == insurer.pk and existing.fund_id == fund.pk)
        if not same:
            raise Refused([problem(label, _("reference"),
                                   lazy_format(_("the same payment as recorded on %(date)s"), date=existing.paid_on),
                                   _("a different payment under the same reference"))])
        return existing
    problems = []
    if insurer.pk != party.pk:
        problems.append(problem(label, _("insurer"), lazy_format(_("%(insurer)s (party to the contract)"), insurer=party),
                                insurer))
    if amount_dec <= 0:
        problems.append(problem(label, _("amount"), _("above 0"), amount_dec))
    if cy is not None and cy.status == ContractYear.Status.CLOSED:
        problems.append(problem(label, _("contract year"), _("an open contract year"),
                                lazy_format(_("%(year)s is closed"), year=cy)))
    received = received_on or paid_on
    if side == PremiumTransfer.Side.INSURER and received < paid_on:
        problems.append(problem(label, _("received_on"), lazy_format(_("on or after the payment date %(date)s"),
                                                                      date=paid_on), received))
    if amount_dec > 0 and not problems:
        outstanding = _outstanding_fen(contract_year=contract_year, obligation=obligation)
        if to_fen(amount_dec) > outstanding:
            problems.append(problem(label, _("amount"), lazy_format(_("at most what is still owed, %(owed)s"),
                                                                     owed=f"{Decimal(outstanding) / 100:,.2f}"),
                                    f"{amount_dec:,.2f}"))
    if problems:
        raise Refused(problems)
    t = PremiumTransfer(
        reference=reference, fund=fund, insurer=insurer, contract_year=contract_year, obligation=obligation,
        year=year, amount=amount_dec, paid_on=paid_on, entered_by_side=side, memo=memo, created_by=user,
        received_on=received if side == PremiumTransfer.Side.INSURER else None)
    _half_draft(t, side, user, received if side == PremiumTransfer.Side.INSURER else paid_on)
    t.save()
    audit_record(action="transfer_recorded", actor=user, obj=t, book=getattr(t, f"{side}_entry").book,
                 detail={"side": side, "amount": f"{amount_dec:.2f}", "paid_on": paid_on.isoformat()})
    return t


@transaction.atomic
def transfer_confirm(*, transfer: PremiumTransfer, user, received_on: date | None = None) -> PremiumTransfer:
    """The other side agrees: its accountant drafts its own voucher for the same payment (the insurer
    with the date the money arrived). Confirming again changes nothing."""
    t = PremiumTransfer.objects.select_for_update(of=("self",)).select_related("fund", "insurer", "obligation").get(pk=transfer.pk)
    label = lazy_format(_("transfer %(ref)s"), ref=t.reference)
    side = _side_of(user, t.fund, t.insurer, label)
    if getattr(t, f"{side}_entry_id") is not None:
        return t
    if t.obligation is not None and t.obligation.kind == PremiumObligation.Kind.CARRIED:
        # A carry moves no cash: the insurer books it with the settlement's own entries, never as money received.
        raise Refused([problem(label, _("obligation"), _("a premium paid in money (a carried surplus is booked "
                                                         "with the prior year's settlement)"),
                               t.obligation.get_kind_display())])
    if side == PremiumTransfer.Side.INSURER:
        when = received_on or t.paid_on
        if when < t.paid_on:
            raise Refused([problem(label, _("received_on"),
                                   lazy_format(_("on or after the payment date %(date)s"), date=t.paid_on), when)])
        t.received_on = when
    else:
        when = t.paid_on
    _half_draft(t, side, user, when)
    t.save(update_fields=[f"{side}_entry", "received_on"])
    audit_record(action="transfer_confirmed", actor=user, obj=t, book=getattr(t, f"{side}_entry").book,
                 detail={"side": side, "on": when.isoformat()})
    return t


@transaction.atomic
def transfer_approve(*, transfer: PremiumTransfer, user) -> list:
    """A reviewer posts the transfer's drafts that lie in the books of their scope (never their own).
    Returns the vouchers posted; refused when nothing of this transfer awaits them."""
    t = PremiumTransfer.objects.select_for_update().get(pk=transfer.pk)
    posted = []
    for side in (PremiumTransfer.Side.FUND, PremiumTransfer.Side.INSURER):
        entry = getattr(t, f"{side}_entry")
        if entry is not None and not entry.is_posted and in_scope(user, entry.book):
            posted.append(entry_draft_post(entry=entry, reviewed_by=user))
    if not posted:
        raise Refused([problem(lazy_format(_("transfer %(ref)s"), ref=t.reference), _("status"),
                               _("a voucher of this transfer awaiting your review"), _("none in your books"))])
    return posted


@transaction.atomic
def transfer_withdraw(*, transfer: PremiumTransfer, user) -> bool:
    """Withdraw the drafts of a transfer that this user prepared (or, for an administrator, every draft);
    a posted voucher stays and is corrected by reversal. Returns True when the transfer is gone."""
    t = PremiumTransfer.objects.select_for_update().get(pk=transfer.pk)
    withdrawn = []
    for side in (PremiumTransfer.Side.FUND, PremiumTransfer.Side.INSURER):
        entry = getattr(t, f"{side}_entry")
        if entry is None or entry.is_posted:
            continue
        if entry.made_by_id == getattr(user, "pk", None) or is_administrator(user):
            withdrawn.append((side, entry))
    if not withdrawn:
        raise Refused([problem(lazy_format(_("transfer %(ref)s"), ref=t.reference), _("status"),
                               _("a draft of this transfer you prepared"),
                               _("none (posted vouchers are corrected by reversal)"))])
    for side, _entry in withdrawn:
        setattr(t, f"{side}_entry", None)
    gone = t.fund_entry_id is None and t.insurer_entry_id is None
    detail = {"reference": t.reference, "amount": f"{t.amount.amount:.2f}", "sides": [s for s, _ in withdrawn]}
    audit_record(action="deleted", actor=user, obj=t, book=withdrawn[0][1].book, detail=detail)
    if gone:
        t.delete()
    else:
        t.save(update_fields=["fund_entry", "insurer_entry"])
    for _side, entry in withdrawn:
        entry.postings.all().delete()
        entry.delete()
    return gone


@transaction.atomic
def deposit_release_post(*, obligation: PremiumObligation, reference: str, amount, on: date, made_by,
                         reviewed_by) -> PremiumTransfer:
    """The fund pays the service deposit the settlement releases: its voucher is prepared and approved
    with the settlement (the same two people), and the insurer confirms the receipt in its own book."""
    label = lazy_format(_("transfer %(ref)s"), ref=reference)
    _lock_total(obligation=obligation)
    existing = PremiumTransfer.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    amount_dec = to_decimal(amount)
    outstanding = _outstanding_fen(obligation=obligation)
    if to_fen(amount_dec) > outstanding:
        raise Refused([problem(label, _("amount"), lazy_format(_("at most what is still owed, %(owed)s"),
                                                                owed=f"{Decimal(outstanding) / 100:,.2f}"),
                               f"{amount_dec:,.2f}")])
    t = PremiumTransfer(reference=reference, fund=obligation.fund, insurer=obligation.insurer, obligation=obligation,
                        year=obligation.year, amount=amount_dec, paid_on=on, entered_by_side=PremiumTransfer.Side.FUND,
                        created_by=made_by)
    _half_draft(t, PremiumTransfer.Side.FUND, made_by, on)
    t.fund_entry = entry_draft_post(entry=t.fund_entry, reviewed_by=reviewed_by)
    t.save()
    return t


# -- what a settlement leaves to the next contract year ------------------------------


@transaction.atomic
def settlement_obligation_add(*, contract_year: ContractYear, kind: str, key: str, amount, description: str,
                              due_date: date, source: str) -> PremiumObligation:
    """An obligation a prior year's settlement adds to this contract year: its surplus carried into this
    year's fund (kind carried, part of this year's P, settled by carry_transfer_post), or the fund's share
    of its policy loss (kind loss, paid like premium by a transfer, not part of P). Adding it again returns
    the one there."""
    contract = contract_year.contract
    ob, _created = PremiumObligation.objects.get_or_create(
        key=key, defaults=dict(fund=contract.fund, insurer=contract.insurer, contract_year=contract_year,
                               year=contract_year.year, kind=kind, sequence=90, description=description,
                               amount=to_decimal(amount), due_date=due_date, source=source))
    return ob


def _carry_lines(t: PremiumTransfer, side: str) -> tuple[Book, str, list[Line]]:
    """A carried surplus applied as this year's premium, no money moving: the fund turns its advance held by
    the insurer (1101 暂付款) into this year's 大病保险支出; the insurer turns what it owed the fund
    (224101 应返还医保基金) into this year's premium income. The 1101 lines name no counterparty: the fund's
    1101 credits naming the insurer are the basic fund's advances it repays (advances_reconcile)."""
    amount = t.amount.amount
    memo = f"{t.obligation.description}（{t.reference}）"
    if side == PremiumTransfer.Side.FUND:
        return _book_of(t.fund, "fund"), memo, [Line("5101", debit=amount, counterparty=t.insurer.name),
                                                Line("1101", credit=amount)]
    return _book_of(t.insurer, "insurer"), memo, [Line("224101", debit=amount, counterparty=t.fund.name),
                                                  Line("6031", credit=amount, counterparty=t.fund.name)]


@transaction.atomic
def carry_transfer_post(*, obligation: PremiumObligation, reference: str, on: date, made_by,
                        reviewed_by) -> PremiumTransfer:
    """The carried surplus paid into this year's fund by carry, not cash: the fund's voucher is prepared and
    approved with the settlement that carried it (the same two people); the insurer books its own
    (carry_transfer_confirm). Again: the transfer there."""
    _lock_total(obligation=obligation)
    existing = PremiumTransfer.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    t = PremiumTransfer(reference=reference, fund=obligation.fund, insurer=obligation.insurer, obligation=obligation,
                        year=obligation.year, amount=obligation.amount.amount, paid_on=on,
                        entered_by_side=PremiumTransfer.Side.FUND, created_by=made_by,
                        memo="以结转方式拨付（非现金）")
    book, memo, lines = _carry_lines(t, PremiumTransfer.Side.FUND)
    _ensure_open_year(book, on.year)
    t.fund_entry = entry_draft_save(book=book, date=on, memo=memo, lines=lines, made_by=made_by,
                                    source="premium-transfer", idempotency_key=f"transfer:{reference}")
    t.fund_entry = entry_draft_post(entry=t.fund_entry, reviewed_by=reviewed_by)
    t.save()
    audit_record(action="transfer_recorded", actor=made_by, obj=t, book=book,
                 detail={"side": "fund", "amount": f"{t.amount.amount:.2f}", "paid_on": on.isoformat(),
                         "by": "carry"})
    return t


@transaction.atomic
def carry_transfer_confirm(*, transfer: PremiumTransfer, user) -> PremiumTransfer:
    """The insurer's accountant drafts, in the insurer's own book, its side of a carried surplus applied as
    premium (Dr 224101 / Cr 6031), for the insurer's reviewer (transfer_approve). Again: nothing new."""
    t = PremiumTransfer.objects.select_for_update(of=("self",)).select_related("fund", "insurer", "obligation").get(
        pk=transfer.pk)
    label = lazy_format(_("transfer %(ref)s"), ref=t.reference)
    if _side_of(user, t.fund, t.insurer, label) != PremiumTransfer.Side.INSURER:
        raise Refused([problem(label, _("user"), lazy_format(_("an accountant of %(party)s"), party=t.insurer),
                               getattr(user, "username", ""))])
    if t.insurer_entry_id is not None:
        return t
    book, memo, lines = _carry_lines(t, PremiumTransfer.Side.INSURER)
    _ensure_open_year(book, t.paid_on.year)
    t.insurer_entry = entry_draft_save(book=book, date=t.paid_on, memo=memo, lines=lines, made_by=user,
                                       source="premium-transfer", idempotency_key=f"transfer:{t.reference}")
    t.received_on = t.paid_on
    t.save(update_fields=["insurer_entry", "received_on"])
    audit_record(action="transfer_confirmed", actor=user, obj=t, book=book,
                 detail={"side": "insurer", "on": t.paid_on.isoformat(), "by": "carry"})
    return t


# -- overdue -----------------------------------------------------------------------


@transaction.atomic
def premium_overdue_mark(*, as_of: date) -> int:
    """Mark obligations past due and not fully paid by then; marking again changes nothing.

    Returns how many obligations were newly marked.
    """
    from .selectors import premium_status

    marked = 0
    candidates = PremiumObligation.objects.filter(due_date__lt=as_of, overdue_since__isnull=True)
    groups = {(o.fund_id, o.insurer_id, o.year) for o in candidates}
    for fund_id, insurer_id, year in sorted(groups):
        for row in premium_status(fund=fund_id, insurer=insurer_id, year=year, as_of=as_of):
            ob = row.obligation
            if ob.overdue_since is None and ob.due_date and ob.due_date < as_of and row.late_by_due:
                # A conditional update: when two workers race, the second waits for the
                # first's row lock, finds the mark set, and updates nothing.
                marked += PremiumObligation.objects.filter(pk=ob.pk, overdue_since__isnull=True).update(
                    overdue_since=date.fromordinal(ob.due_date.toordinal() + 1))
    return marked
