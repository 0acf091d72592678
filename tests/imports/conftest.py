"""Fixtures the import examples share: Jincheng's contract and books, a named preparer, Jilin's regions."""

import pytest

from accounts.services import regions_load
from contracts.models import ContractYear
from contracts.reference import reference_contracts_load
from contracts.topup import REGIONS_FILE
from reconciliation.models import BankFormat
from tests.conftest import books_opened

# 工商银行's export: money out in 支出, money in in 收入, never both on one line.
ICBC = {"date": "交易日期", "description": "摘要", "reference": "流水号", "counterparty": "对方户名", "debit": "支出",
        "credit": "收入"}


@pytest.fixture
def jincheng(db):
    reference_contracts_load()
    books_opened()
    return ContractYear.objects.get(contract__code="JC-2019", year=2019)


@pytest.fixture
def preparer(django_user_model):
    # Claims batches are prepared by a named person (制单).
    return django_user_model.objects.create_user("wangfang", password="制单-test-pass-1", last_name="王",
                                                 first_name="芳")


@pytest.fixture
def jilin(db):
    regions_load(REGIONS_FILE)


@pytest.fixture
def icbc_account(jincheng):
    BankFormat.objects.create(name="工商银行", columns=ICBC)
    return jincheng.contract.fund.books.get().accounts.get(code="1004")
