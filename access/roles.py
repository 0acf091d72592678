"""The roles of the people who keep and check the books, as Django groups with permissions.

Scoping (which books) is separate: see access.scope. A role says what a user may do; the
scope says where.
"""

from dataclasses import dataclass

# Models every role reads within its scope.
SCOPED_MODELS = [
    "accounts.region", "accounts.fund", "accounts.insurer", "accounts.book", "accounts.account",
    "ledger.period", "ledger.journalentry", "ledger.accountbalance",
    "contracts.contract", "contracts.contractyear", "contracts.assessment", "contracts.premiumobligation",
    "contracts.premiumtransfer",
    "claims.benefitpolicy", "claims.hospital", "claims.claimbatch", "claims.claim",
    "claims.fundadvance", "claims.timelimit", "claims.calendaryear", "claims.calendarday",
    "reconciliation.settlement", "reconciliation.deadline", "reconciliation.bankstatement", "reconciliation.bankline",
    "reports.reportrecord", "reports.reportjob",
]
# Postings are read inside their vouchers (an inline), never listed on their own.
VIEW = [f"{m.split('.')[0]}.view_{m.split('.')[1]}" for m in SCOPED_MODELS] + ["ledger.view_posting"]


@dataclass(frozen=True)
class Role:
    code: str
    group: str  # the group's name, as users see it
    permissions: tuple


# Preparers (制单) draft what puts money into their own side's books; reviewers (审核) approve what
# someone else prepared. No role both prepares and approves, and deleting a draft is its preparer's.
# A voucher's lines (postings) are written with the voucher: whoever prepares vouchers holds their rights too.
LINES = ["ledger.add_posting", "ledger.change_posting", "ledger.delete_posting"]
FUND_ACCOUNTANT = Role("fund_accountant", "基金会计（制单）", tuple(VIEW + LINES + [
    "ledger.add_journalentry", "ledger.change_journalentry", "ledger.delete_journalentry",
    "contracts.add_premiumtransfer", "contracts.change_premiumtransfer",
    "claims.add_fundadvance", "claims.change_fundadvance",
    "reconciliation.add_settlement", "reconciliation.change_settlement", "reconciliation.delete_settlement",
    "reconciliation.add_bankstatement", "reconciliation.change_bankline", "reports.add_reportjob",
]))
REVIEWER = Role("reviewer", "审核", tuple(VIEW + [
    "ledger.post_journalentry", "ledger.change_period", "reconciliation.approve_settlement", "reports.add_reportjob",
]))
INSURER_ACCOUNTANT = Role("insurer_accountant", "承办机构会计", tuple(VIEW + LINES + [
    "ledger.add_journalentry", "ledger.change_journalentry", "ledger.delete_journalentry",
    "contracts.add_premiumtransfer", "contracts.change_premiumtransfer",
    "claims.add_claimbatch", "claims.delete_claimbatch", "claims.change_fundadvance",
    "reconciliation.add_bankstatement", "reconciliation.change_bankline", "reports.add_reportjob",
]))
AUDITOR = Role("auditor", "审计", tuple(VIEW + ["audit.view_auditevent", "reports.add_reportjob",
                                               "audit.view_integrityalert", "audit.acknowledge_integrityalert"]))
ADMINISTRATOR = Role("administrator", "系统管理员", ("*",))

ROLES = {r.code: r for r in (FUND_ACCOUNTANT, REVIEWER, INSURER_ACCOUNTANT, AUDITOR, ADMINISTRATOR)}


def is_administrator(user) -> bool:
    """A superuser, or a user in the administrator role: may withdraw anyone's draft (never post it alone)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATOR.group).exists()
