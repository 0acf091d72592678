"""The demo year end to end: premiums, top-ups, claims, the assessment, settlements and the year-end close."""

from datetime import date

from django.db import transaction

from access.demo import demo_pair
from accounts.models import Book
from claims.demo import demo_advances_post
from contracts.demo import demo_claims_post, demo_topups_post, demo_year_post
from contracts.models import Assessment, ContractYear, PremiumTransfer
from contracts.services import transfer_approve, transfer_confirm

from .models import Settlement
from .services import (
    settlement_draft,
    settlement_insurer_approve,
    settlement_insurer_prepare,
    settlement_post,
    settlement_review,
    year_end_close,
    year_end_prepare,
)

# (contract, year, settled on): after the March 31 cut-off, before the June 30 deadline.
SETTLE = [("SD-2015", 2015, date(2016, 6, 20)), ("JC-2019", 2019, date(2020, 6, 20)),
          ("SD-2015-CLIC", 2015, date(2016, 6, 20))]

# The demo's Jincheng accountant settles 2019 with part of tranche 3 still unpaid (the fund's 2019 demo
# payments stop short of it): she records her decision to settle on the premium owed, the rest netted.
UNPAID_DECISIONS = {"JC-2019": "第3期保费尚有部分未拨付：经医保局同意，按合同约定应拨保费结算，"
                               "尚欠保费与承办机构应返还结余轧差（演示）"}


@transaction.atomic
def demo_all(out_dir) -> dict:
    years = demo_year_post()
    topups = demo_topups_post()
    claims = demo_claims_post(out_dir)
    # What the basic fund advanced for each year's 垫付还款 claims, repaid by the insurer in both books.
    advances = demo_advances_post(batches=[c["batch"] for c in claims])
    jc = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    Assessment.objects.get_or_create(contract_year=jc, defaults={"score": 85, "assessed_on": date(2020, 4, 20),
                                                                 "assessor": "晋城市医疗保障局（演示）"})
    bank = demo_bank_statement(out_dir)
    settlements = []
    for code, year, on in SETTLE:
        # The fund's accountant prepares the settlement; the fund's reviewer reviews and posts it.
        cy = ContractYear.objects.get(contract__code=code, year=year)
        preparer, reviewer = demo_pair("fund", cy.contract.fund.region.code)
        s = Settlement.objects.filter(contract_year=cy).first() or settlement_draft(
            contract_year=cy, as_of=on, user=preparer, unpaid_reason=UNPAID_DECISIONS.get(code))
        if s.status == Settlement.Status.DRAFT:
            s = settlement_review(settlement=s, user=reviewer)
        s = settlement_post(settlement=s, on=on, user=reviewer)
        settlements.append(s)
        # The insurer books its side of the settlement and the released deposit in its own book.
        accountant, checker = demo_pair("insurer", cy.contract.insurer.code)
        if any(not e.is_posted for e in settlement_insurer_prepare(settlement=s, user=accountant)):
            settlement_insurer_approve(settlement=s, user=checker)
        _deposit_received(cy)
    closed = []
    for code, year, _ in SETTLE:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        for side, book in (("fund", Book.objects.get(fund=cy.contract.fund)),
                           ("insurer", Book.objects.get(insurer=cy.contract.insurer))):
            owner = cy.contract.fund.region.code if side == "fund" else cy.contract.insurer.code
            preparer, reviewer = demo_pair(side, owner)
            if (book, year) in closed:  # two Shandong insurers, one province fund book: closed once
                continue
            year_end_prepare(book=book, year=year, by=preparer)
            year_end_close(book=book, year=year, by=reviewer)
            closed.append((book, year))
    from .province import province_statement

    # Shandong's province-wide pool and its two insurers, each with its assigned cities.
    province = province_statement(fund=Book.objects.get(code="FUND-37").fund, year=2015)
    return {"years": years, "topups": topups, "claims": claims, "advances": advances, "settlements": settlements,
            "closed": closed,
            "bank": bank, "province": province}


def _deposit_received(cy) -> None:
    """The insurer confirms, in its own book, the service deposit the settlement released."""
    for t in PremiumTransfer.objects.filter(obligation__contract_year=cy, obligation__kind="deposit",
                                            insurer_entry__isnull=True):
        accountant, reviewer = demo_pair("insurer", cy.contract.insurer.code)
        t = transfer_confirm(transfer=t, user=accountant, received_on=t.paid_on)
        transfer_approve(transfer=t, user=reviewer)


def demo_bank_statement(out_dir):
    """Jincheng fund's 支出户 (1004) in April 2019: the bank's statement (opening 300,000,000.00, the book's
    建账 balance) with the 30% tranche and a 15.00 fee nobody booked, matched, ready for the 余额调节表."""
    import csv
    from pathlib import Path

    from .bank import bank_match_auto, bank_statement_import
    from .models import BankFormat

    book = Book.objects.get(code="FUND-1405")
    accountant, _reviewer = demo_pair("fund", "1405")
    BankFormat.objects.get_or_create(name="工商银行", defaults={"columns": {
        "date": "交易日期", "description": "摘要", "reference": "流水号", "counterparty": "对方户名",
        "debit": "支出", "credit": "收入"}})
    path = Path(out_dir) / "demo_bank_FUND-1405_1004_2019-04.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(["交易日期", "摘要", "流水号", "对方户名", "支出", "收入"])
        w.writerow(["2019-04-26", "划拨大病保险费", "JC-2019-T1", "中国人寿保险股份有限公司晋城分公司", "44200093.50", ""])
        w.writerow(["2019-04-30", "账户管理费", "FEE201904", "中国工商银行晋城分行", "15.00", ""])
    statement = bank_statement_import(path=path, account=book.accounts.get(code="1004"), bank="工商银行", year=2019,
                                      month=4, opening="300000000.00", closing="255799891.50", by=accountant)
    bank_match_auto(statement=statement, by=accountant.get_username())
    return statement
