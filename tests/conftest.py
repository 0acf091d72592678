"""Shared fixtures: a Shandong fund and its insurer, each with a book opened for 2015."""

from datetime import date

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from access.demo import DemoPerson, demo_person
from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from ledger.services import Line, entry_post, fiscal_year_open


class FewRoundsPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Production's hasher (PBKDF2-SHA256, salted) at a thousand rounds instead of a million: every user a
    test creates and every sign-in hashes a password, and at ~0.5 s a hash that was a large share of the
    suite. Same algorithm, same code path, same stored format; only the work factor is a test's."""

    iterations = 1000


@pytest.fixture(autouse=True)
def _cheap_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["tests.conftest.FewRoundsPBKDF2PasswordHasher"]


@pytest.fixture(autouse=True)
def _report_jobs_dir(settings, tmp_path):
    # Statement jobs write under the test's own directory, never the checkout's out/.
    settings.REPORT_JOBS_DIR = tmp_path / "jobs"


@pytest.fixture
def shandong(db):
    return region_ensure(code="37", name="山东省", level="province")


# What the Shandong books hold when this ledger takes them over (建账, ledger.opening): the fund's 支出户
# holds the year's 大病保险 money, the insurer's 专账 the working capital its head office put in. Cash and
# bank accounts may not be overdrawn (Account.deficit), so a book that pays needs money to pay from.
FUND_OPENING = "400000000.00"
INSURER_OPENING = "100000000.00"


def opened(book, balances: dict, *, by, approved_by, as_of=None):
    """A book's opening balances prepared by one person and approved by another."""
    from ledger.opening import opening_approve, opening_save

    opening_save(book=book, as_of=as_of or date(2015, 1, 1), balances=balances, by=by)
    return opening_approve(book=book, by=approved_by)


@pytest.fixture
def unopened_fund_book(shandong):
    """The Shandong fund's book with its chart and 2015 periods, before its opening balances."""
    fund = fund_ensure(code="F-37", name="山东省城乡居民大病保险资金", region=shandong)
    book = book_create(code="FUND-37", name="山东省大病保险资金账", fund=fund)
    fiscal_year_open(book=book, year=2015)
    return book


@pytest.fixture
def fund_book(unopened_fund_book):
    """The Shandong fund's book, opened with 400,000,000.00 in its 支出户 (1004) against 3001 一般基金结余."""
    by = person("opening-maker", "孙会计", "fund_accountant", regions=["37"])
    approved_by = person("opening-checker", "周主管", "reviewer", regions=["37"])
    opened(unopened_fund_book, {"1004": (FUND_OPENING, None), "3001": (None, FUND_OPENING)}, by=by,
           approved_by=approved_by)
    return unopened_fund_book


@pytest.fixture
def insurer_book(db):
    """The Shandong insurer's 专账, opened with 100,000,000.00 in 1002 银行存款 from its head office (224199)."""
    insurer = insurer_ensure(code="PICC-37", name="中国人民财产保险股份有限公司山东省分公司")
    book = book_create(code="PICC-37-DB", name="人保财险山东大病保险专账", insurer=insurer)
    fiscal_year_open(book=book, year=2015)
    by = person("opening-insurer-maker", "钱会计", "insurer_accountant", insurers=["PICC-37"])
    approved_by = person("opening-insurer-checker", "吴主管", "reviewer", insurers=["PICC-37"])
    opened(book, {"1002": (INSURER_OPENING, None), "224199": (None, INSURER_OPENING)}, by=by, approved_by=approved_by)
    return book


def books_opened() -> None:
    """Every reference book that has not posted yet opened (建账) as quickstart opens it (contracts.demo),
    the others with 1,000,000,000.00 to pay from (a fund's 1004 against 3001, an insurer's 1002 against
    224199): cash and bank accounts are never overdrawn, so a book pays only from an opening balance."""
    from access.demo import PEOPLE, demo_pair
    from accounts.models import Book
    from contracts.demo import demo_openings_post, opening_demo

    demo_openings_post()
    amount = "1000000000.00"
    for book in Book.objects.filter(chain_length=0, opening__isnull=True).select_related("fund__region", "insurer"):
        if book.kind == Book.Kind.FUND:
            side, owner, lines = "fund", book.fund.region.code.split("-")[0], [("1004", amount, None),
                                                                              ("3001", None, amount)]
        else:
            side, owner, lines = "insurer", book.insurer.code, [("1002", amount, None), ("224199", None, amount)]
        if (side, owner) in PEOPLE:
            demo_pair(side, owner)
            opening_demo(book, date(2000, 1, 1), lines, side, owner)


def person(username: str, name: str, role: str, *, regions=(), insurers=()):
    """A named user in a role and scope, as an administrator would set them up (no password needed)."""
    return demo_person(DemoPerson(username, name[0], name[1:], role, tuple(regions), tuple(insurers)))


@pytest.fixture
def maker(shandong):
    """张三, the Shandong fund's accountant: prepares (制单)."""
    return person("zhangsan", "张三", "fund_accountant", regions=["37"])


@pytest.fixture
def reviewer(shandong):
    """李四, the Shandong fund's reviewer: approves (审核) what someone else prepared."""
    return person("lisi", "李四", "reviewer", regions=["37"])


@pytest.fixture
def insurer_maker(insurer_book):
    return person("wangwu", "王五", "insurer_accountant", insurers=["PICC-37"])


@pytest.fixture
def insurer_reviewer(insurer_book):
    return person("zhaoliu", "赵六", "reviewer", insurers=["PICC-37"])


@pytest.fixture
def signed(maker, reviewer):
    """Who signs a voucher posted at once into the Shandong fund's book: 张三 prepares, 李四 approves."""
    return {"made_by": maker, "reviewed_by": reviewer}


@pytest.fixture
def insurer_signed(insurer_maker, insurer_reviewer):
    """Who signs in the Shandong insurer's book: 王五 prepares, 赵六 approves."""
    return {"made_by": insurer_maker, "reviewed_by": insurer_reviewer}


def refused_by_commit(statement: str, params=()) -> str:
    """The database's refusal of a raw statement: at once (PostgreSQL's guards) or at commit (SQLite's
    deferred foreign keys, checked here as the commit would: a test's own transaction never commits)."""
    from django.db import IntegrityError, connection, transaction

    with pytest.raises(IntegrityError) as info, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
        connection.check_constraints()
    return str(info.value)


def premium_lines(amount: str):
    """Fund side of a premium transfer: Dr 5101 大病保险支出 / Cr 1004 支出户存款."""
    return [Line("5101", debit=amount), Line("1004", credit=amount)]


@pytest.fixture
def posted_premium(fund_book, maker, reviewer):
    # Shandong 2015: 32 yuan × 10,000,000 insured, 80% by April 30 → 256,000,000.00
    return entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
                      lines=premium_lines("256000000.00"), idempotency_key="premium-2015-1",
                      made_by=maker, reviewed_by=reviewer)


@pytest.fixture
def jincheng_people(db):
    """Jincheng's fund (李敏 prepares, 张伟 reviews) and China Life Jincheng (刘洋 prepares, 周婷 reviews);
    the reference contracts must be loaded first (their regions and insurers are the people's scope)."""
    from access.demo import demo_pair
    from contracts.reference import reference_contracts_load

    reference_contracts_load()
    books_opened()
    return {"fund": demo_pair("fund", "1405"), "insurer": demo_pair("insurer", "CLIC-1405")}


@pytest.fixture(autouse=True)
def _checkpoints_dir(settings, tmp_path):
    # Checkpoints are written outside the database: in tests, under the test's own directory.
    settings.LEDGER_CHECKPOINT_DIR = tmp_path / "checkpoints"


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_guards():
    """A transactional test ends by emptying the test database with TRUNCATE, which the guards refuse on
    PostgreSQL (BEFORE TRUNCATE triggers). The database's owner empties it with triggers off for that
    one transaction (session_replication_role), as a restore tool would; nothing else runs like that."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original
