"""The demo year end to end: premiums, top-ups, claims, the assessment, settlements and the year-end close."""

from datetime import date

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Book
from contracts.demo import demo_claims_post, demo_topups_post, demo_year_post
from contracts.models import Assessment, ContractYear

from .models import Settlement
from .services import settlement_draft, settlement_post, settlement_review, year_end_close

# (contract, year, settled on): after the March 31 cut-off, before the June 30 deadline.
SETTLE = [("SD-2015", 2015, date(2016, 6, 20)), ("JC-2019", 2019, date(2020, 6, 20))]


def _people():
    User = get_user_model()
    preparer, _ = User.objects.get_or_create(username="demo-kuaiji", defaults={"first_name": "演示会计"})
    reviewer, _ = User.objects.get_or_create(username="demo-fuhe", defaults={"first_name": "演示复核"})
    for u in (preparer, reviewer):
        if u.has_usable_password():
            continue
        u.set_unusable_password()
        u.save()
    return preparer, reviewer


@transaction.atomic
def demo_all(out_dir) -> dict:
    years = demo_year_post()
    topups = demo_topups_post()
    claims = demo_claims_post(out_dir)
    jc = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    Assessment.objects.get_or_create(contract_year=jc, defaults={"score": 85, "assessed_on": date(2020, 4, 20),
                                                                 "assessor": "晋城市医疗保障局（演示）"})
    preparer, reviewer = _people()
    bank = demo_bank_statement(out_dir)
    settlements = []
    for code, year, on in SETTLE:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        s = Settlement.objects.filter(contract_year=cy).first() or settlement_draft(
            contract_year=cy, as_of=on, user=preparer)
        if s.status == Settlement.Status.DRAFT:
            s = settlement_review(settlement=s, user=reviewer)
        settlements.append(settlement_post(settlement=s, on=on))
    closed = []
    for code, year, _ in SETTLE:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        for book in (Book.objects.get(fund=cy.contract.fund), Book.objects.get(insurer=cy.contract.insurer)):
            year_end_close(book=book, year=year)
            closed.append((book, year))
    return {"years": years, "topups": topups, "claims": claims, "settlements": settlements, "closed": closed,
            "bank": bank}


def demo_bank_statement(out_dir):
    """Jincheng fund's 支出户 (1004) in April 2019: an opening balance booked, the bank's statement with
    the 30% tranche and a 15.00 fee nobody booked, matched, ready for the 余额调节表."""
    import csv
    from pathlib import Path

    from ledger.services import Line, entry_post

    from .bank import bank_match_auto, bank_statement_import
    from .models import BankFormat

    book = Book.objects.get(code="FUND-1405")
    entry_post(book=book, date=date(2019, 1, 1), memo="支出户存款期初余额", idempotency_key="demo-opening-1004",
               lines=[Line("1004", debit="300000000.00"), Line("3001", credit="300000000.00")], source="quickstart")
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
                                      month=4, opening="300000000.00", closing="255799891.50")
    bank_match_auto(statement=statement)
    return statement
