"""The demo year quickstart posts, from the reference contracts in data/contracts.json.

Every payment is recorded by one side's accountant in their own book and posted by that side's
reviewer; the other side confirms in its own book the same way (access.demo names the people).
Shandong 2015: two insurers serve the province-wide pool, each its assigned cities. 人保财险's two tranches
paid on time in one sum each, recorded by the fund and confirmed by the insurer; 国寿's paid city by city,
临沂市's 80% late.
Shanxi (Jincheng) 2019: the 30% tranche on time, the 60% mark reached 12 days late (recorded first
by the insurer), the 90% mark still short at the cut-off and its last payment still in transit,
the deposit awaiting the assessment.
Every voucher carries an idempotency key or a transfer reference, so running the demo again
changes nothing.
"""

from datetime import date

from django.db import transaction

from access.demo import demo_pair, demo_supervisors_set
from accounts.models import Book
from accounts.services import regions_load

from .models import ContractYear, PremiumObligation, PremiumTransfer
from .reference import REFERENCE_FILE, reference_contracts_load
from .services import transfer_approve, transfer_confirm, transfer_record
from .topup import REGIONS_FILE, topup_import

TOPUP_FILE = REFERENCE_FILE.parent / "jilin_2019_topup.csv"

# (reference, contract, year, amount, paid on, recorded by, the other side confirms on)
TRANSFERS = [
    ("SD-2015-T1", "SD-2015", 2015, "256000000.00", date(2015, 4, 28), "fund", date(2015, 4, 29)),
    ("SD-2015-T2", "SD-2015", 2015, "64000000.00", date(2015, 12, 22), "fund", date(2015, 12, 23)),
    ("JC-2019-T1", "JC-2019", 2019, "44200093.50", date(2019, 4, 26), "fund", date(2019, 4, 26)),
    ("JC-2019-T2", "JC-2019", 2019, "30000000.00", date(2019, 6, 28), "insurer", date(2019, 6, 28)),
    ("JC-2019-T3", "JC-2019", 2019, "14200093.50", date(2019, 7, 12), "fund", date(2019, 7, 12)),
    ("JC-2019-T4", "JC-2019", 2019, "20000000.00", date(2019, 9, 20), "fund", None),
]

# Shandong's second insurer is paid city by city: each 统筹地区's agency pays its own part of a tranche
# (contracts.services.obligations_generate splits it by insured count). (contract, year, tranche, paid on,
# the insurer confirms on, {region code: (paid on, confirmed on)} for the cities that paid otherwise):
# 临沂市 pays its 80% fifteen days after the April 30 due date.
REGION_PAYMENTS = [
    ("SD-2015-CLIC", 2015, 1, date(2015, 4, 29), date(2015, 4, 29), {"3713": (date(2015, 5, 15), date(2015, 5, 15))}),
    ("SD-2015-CLIC", 2015, 2, date(2015, 12, 22), date(2015, 12, 23), {}),
]

# 建账 (ledger.opening): what each book holds on the day this ledger takes it over. A fund's 支出户 holds
# the year's 大病保险 money drawn from the 财政专户; an insurer's 专账 holds the working capital its head
# office put in to pay hospitals before the first premium arrives (224199 其他应付款—其他, owed back).
OPENINGS = [
    # The province-wide pool pays both Shandong insurers (320,000,000.00 and 192,000,000.00) from its 支出户.
    ("FUND-37", date(2015, 1, 1), [("1004", "550000000.00", None), ("3001", None, "550000000.00")]),
    ("PICC-37-DB", date(2015, 1, 1), [("1002", "100000000.00", None), ("224199", None, "100000000.00")]),
    ("CLIC-37-DB", date(2015, 1, 1), [("1002", "60000000.00", None), ("224199", None, "60000000.00")]),
    ("FUND-1405", date(2019, 1, 1), [("1004", "300000000.00", None), ("3001", None, "300000000.00")]),
    ("CLIC-1405-DB", date(2019, 1, 1), [("1002", "60000000.00", None), ("224199", None, "60000000.00")]),
]
# A Jilin district fund's 支出户 before it pays the 2019 top-up (the largest is 6,760,680.00).
JILIN_FUND_OPENING = "10000000.00"


def opening_demo(book: Book, as_of, lines, side: str, owner: str) -> None:
    """A book's opening balances prepared by its accountant and approved by its reviewer, once."""
    from ledger.models import Opening
    from ledger.opening import opening_approve, opening_save

    if book.chain_length or Opening.objects.filter(book=book, status=Opening.Status.APPROVED).exists():
        return
    maker, checker = demo_pair(side, owner)
    opening_save(book=book, as_of=as_of, balances={code: (dr, cr) for code, dr, cr in lines}, by=maker)
    opening_approve(book=book, by=checker)


def demo_openings_post() -> None:
    for code, as_of, lines in OPENINGS:
        book = Book.objects.filter(code=code).select_related("fund__region", "insurer").first()
        if book is None:
            continue
        side, owner = (("fund", book.fund.region.code.split("-")[0]) if book.kind == Book.Kind.FUND
                       else ("insurer", book.insurer.code))
        opening_demo(book, as_of, lines, side, owner)


def _people(fund, insurer) -> dict:
    """The fund's (accountant, reviewer), found by its region (Jilin's districts by the province, 22-…),
    and the insurer's."""
    return {"fund": demo_pair("fund", fund.region.code.split("-")[0]), "insurer": demo_pair("insurer", insurer.code)}


def transfer_demo(*, people: dict, side: str, confirm_on, **record) -> PremiumTransfer:
    """One payment as the two sides book it: recorded and approved by `side`, then (when `confirm_on`)
    confirmed and approved by the other side, each in its own book."""
    maker, checker = people[side]
    t = transfer_record(user=maker, **record)
    if not getattr(t, f"{side}_entry").is_posted:
        transfer_approve(transfer=t, user=checker)
    if confirm_on is not None:
        other = "insurer" if side == "fund" else "fund"
        maker, checker = people[other]
        t = transfer_confirm(transfer=t, user=maker, received_on=confirm_on if other == "insurer" else None)
        entry = getattr(t, f"{other}_entry")
        if not entry.is_posted:
            transfer_approve(transfer=t, user=checker)
    t.refresh_from_db()
    return t


@transaction.atomic
def demo_year_post() -> list[ContractYear]:
    years = reference_contracts_load()
    demo_supervisors_set()
    demo_openings_post()
    by_code = {(cy.contract.code, cy.year): cy for cy in years}
    for ref, code, year, amount, paid_on, side, confirmed_on in TRANSFERS:
        cy = by_code[(code, year)]
        people = _people(cy.contract.fund, cy.contract.insurer)
        transfer_demo(people=people, side=side, confirm_on=confirmed_on, reference=ref, contract_year=cy,
                      insurer=cy.contract.insurer, amount=amount, paid_on=paid_on,
                      received_on=paid_on if side == "insurer" else None)
    for code, year, sequence, paid_on, confirmed_on, otherwise in REGION_PAYMENTS:
        cy = by_code[(code, year)]
        people = _people(cy.contract.fund, cy.contract.insurer)
        for ob in cy.obligations.filter(kind=PremiumObligation.Kind.TRANCHE, sequence=sequence,
                                        region__isnull=False).select_related("region").order_by("region__code"):
            paid, confirmed = otherwise.get(ob.region.code, (paid_on, confirmed_on))
            transfer_demo(people=people, side="fund", confirm_on=confirmed, reference=f"{code}-{ob.region.code}-T{sequence}",
                          obligation=ob, insurer=cy.contract.insurer, amount=ob.amount.amount, paid_on=paid)
    return years


@transaction.atomic
def demo_topups_post():
    """Import the Jilin 2019 top-up table and pay it: 长春's districts on time, 吉林市's late, the rest not yet."""
    regions_load(REGIONS_FILE)  # the import finds each row's region by name among these
    result = topup_import(path=TOPUP_FILE, accept_discrepancies=True)
    if not Book.objects.filter(insurer__name="人寿保险").exists():
        from accounts.models import Insurer
        from accounts.services import book_create

        book_create(code="CLIC-22-DB", name="人寿保险吉林大病保险专账", insurer=Insurer.objects.get(name="人寿保险"))
    plan = [("长春市", date(2019, 11, 25)), ("吉林市", date(2019, 12, 10))]
    for city, paid_on in plan:
        for ob in PremiumObligation.objects.filter(kind="topup", year=2019, fund__region__parent__name=city):
            book = _fund_book(ob.fund)
            demo_supervisors_set()
            book.refresh_from_db()
            opening_demo(book, date(2019, 1, 1), [("1004", JILIN_FUND_OPENING, None), ("3001", None, JILIN_FUND_OPENING)],
                         "fund", ob.fund.region.code.split("-")[0])
            transfer_demo(people=_people(ob.fund, ob.insurer), side="fund", confirm_on=paid_on,
                          reference=f"TOPUP-2019-{ob.fund.region.code}", obligation=ob, insurer=ob.insurer,
                          amount=ob.amount, paid_on=paid_on)
    return result


def _fund_book(fund) -> Book:
    from accounts.services import book_create

    return fund.books.first() or book_create(code=f"FUND-{fund.region.code}", name=f"{fund.name}账", fund=fund)


# (contract, policy year, claims, out-of-pocket scale, seed): a synthetic year each, five paid wrongly on
# purpose; the scale brings the loss ratio near what these contracts see (about 80–95%; Shandong's second
# insurer a little above 100%, a loss it bears within its 4% band).
DEMO_CLAIMS = [("SD-2015", 2015, 4400, 9.0, 2015), ("JC-2019", 2019, 2000, 4.0, 2019),
               ("SD-2015-CLIC", 2015, 2900, 9.0, 2037)]


def demo_claims_post(out_dir) -> list[dict]:
    """Synthetic claims for Shandong 2015 (each insurer) and Jincheng 2019, imported, recomputed and posted.

    Each file is written from a fixed seed, so it is the same file every run and imports once.
    """
    from pathlib import Path

    from bench.claims_data import write_claims
    from claims.policies import policy_get
    from claims.selectors import claims_discrepancies
    from claims.services import claims_import, claims_post, claims_recompute

    done = []
    for code, year, n, scale, seed in DEMO_CLAIMS:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        path = Path(out_dir) / f"demo_claims_{code}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_claims(path, n_claims=n, year=year, policy=policy_get(code=cy.benefit_policy), wrong=5, hospitals=12,
                     seed=seed, oop_scale=scale, late_share=0.01)
        preparer, reviewer = demo_pair("insurer", cy.contract.insurer.code)
        result = claims_import(path=path, contract=cy.contract, by=preparer)
        claims_recompute(contract_year=cy)
        claims_post(batch=result.batch, reviewed_by=reviewer)
        done.append({"contract_year": cy, "batch": result.batch, "file": str(path.relative_to(Path(out_dir).parent)),
                     "claims": result.rows,
                     "paid": result.paid_total, "discrepancies": claims_discrepancies(contract_year=cy, limit=10)})
    return done
