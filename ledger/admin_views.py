"""What the ledger and accounts admin pages share: refusals told in the user's language.

The services name each problem in English with its values inside the text ("a leaf
account of book FUND-37"), which is right for logs and commands. Accountants read the
admin in Chinese, so each part of a problem is matched against the phrasings the
services use and translated. A phrasing not listed here yet is shown as the service
wrote it: an untranslated reason is better than a lost one.
"""

import re

from django import forms
from django.contrib import messages
from django.utils.translation import gettext_lazy as _

from core.errors import Refused
from core.forms import dry_run

# (pattern matching the whole text, translation). Named groups fill the translation;
# a group named `label` is itself an entry label and is translated in turn.
# Literal percent signs are written %% because every translation is %-formatted.
_ENTRY = [
    (r"book (?P<code>.+)", _("book %(code)s")),
    (r"draft #(?P<id>\d+)", _("draft #%(id)s")),
    (r"draft «(?P<memo>.*)»", _("draft «%(memo)s»")),
    (r"key (?P<key>.+)", _("the entry with key %(key)s")),
    (r"entry «(?P<memo>.*)» of (?P<date>\S+)", _("the entry «%(memo)s» of %(date)s")),
    (r"reversal of (?P<label>.+)", _("the reversal of %(label)s")),
    (r"account (?P<code>\S+)", _("account %(code)s")),
    (r"consortium (?P<name>.+)", _("consortium %(name)s")),
    (r"chart template", _("chart template")),
    (r"settlement (?P<cy>.+)", _("%(cy)s settlement")),
    (r"transfer (?P<ref>.+)", _("transfer %(ref)s")),
    (r"claims batch (?P<batch>.+)", _("claims batch %(batch)s")),
    (r"book (?P<code>\S+) year (?P<year>\d+)", _("book %(code)s, year %(year)s")),
]

_FIELD = [
    (r"date", _("date")),
    (r"memo", _("memo")),
    (r"lines", _("postings")),
    (r"line (?P<n>\d+)", _("line %(n)s")),
    (r"line (?P<n>\d+) account", _("line %(n)s account")),
    (r"line (?P<n>\d+) debit", _("line %(n)s debit")),
    (r"line (?P<n>\d+) credit", _("line %(n)s credit")),
    (r"balance", _("debits and credits")),
    (r"reviewed_by", _("reviewer")),
    (r"status", _("status")),
    (r"entry", _("entry")),
    (r"idempotency_key", _("idempotency key")),
    (r"year", _("year")),
    (r"year (?P<year>\d+)", _("year %(year)s")),
    (r"period (?P<period>\S+)", _("period %(period)s")),
    (r"database", _("database")),
    (r"owner", _("owner")),
    (r"code", _("code")),
    (r"parent", _("parent account")),
    (r"member shares", _("member shares")),
    (r"name", _("name")),
    (r"made_by", _("preparer")),
    (r"posted_by", _("poster")),
    (r"user", _("user")),
    (r"by", _("user")),
    (r"source", _("source")),
    (r"closing entry", _("closing entry")),
    (r"amount", _("amount")),
]

_EXPECTED = [
    (r"a date", _("a date")),
    (r"a date in an opened year of book (?P<code>.+)", _("a date in an opened year of book %(code)s")),
    (r"a date in an open period", _("a date in an open period")),
    (r"a memo \(摘要\)", _("a memo")),
    (r"at least 2 postings", _("at least 2 postings")),
    (r"an account of book (?P<code>.+)", _("an account of book %(code)s")),
    (r"a leaf account of book (?P<code>.+)", _("a leaf account of book %(code)s")),
    (r"a leaf account \(it has sub-accounts\)", _("a leaf account (this one has sub-accounts)")),
    (r"a debit or a credit, not both", _("a debit or a credit, not both")),
    (r"a debit or a credit above zero", _("a debit or a credit above zero")),
    (r"Σdebit = Σcredit > 0", _("Σdebit = Σcredit > 0")),
    (r"a CNY amount with at most 2 decimals", _("a CNY amount with at most 2 decimals")),
    (r"an amount ≥ 0 \(put it on the other side\)", _("an amount ≥ 0 (put it on the other side)")),
    (r"a reviewer other than the maker(?: \(制单\))?", _("a reviewer other than the maker")),
    (r"a reviewer \(审核\)", _("a reviewer")),
    (r"a draft awaiting review", _("a draft awaiting review")),
    (r"a draft", _("a draft")),
    (r"a posted entry", _("a posted entry")),
    (r"an entry that is not itself a reversal", _("an entry that is not itself a reversal")),
    (r"the same content as (?P<label>.+)", _("the same content as %(label)s")),
    (r"a key used once in the batch", _("a key used once in the batch")),
    (r"no draft entries left in it \(post or delete them first\)",
     _("no drafts left in it (post or delete them first)")),
    (r"a period not closed with its year", _("a period not closed with its year")),
    (r"12 opened periods", _("12 opened periods")),
    (r"a year 1900–9999", _("a year 1900–9999")),
    (r"the ledger invariants to hold", _("the ledger's rules to hold")),
    (r"one of (?P<names>.+)", _("one of %(names)s")),
    (r"shares adding up to 100%", _("shares adding up to 100%%")),
    (r"exactly one fund or one insurer", _("exactly one fund or one insurer")),
    (r"a code no other book has", _("a code no other book has")),
    (r"digits starting with (?P<code>.+)", _("digits starting with %(code)s")),
    (r"a sub-account of (?P<code>.+)", _("a sub-account of %(code)s")),
    (r"an account without postings \(postings go to leaf accounts\)",
     _("an account without postings (postings go to leaf accounts)")),
    (r"a preparer \(制单\): a named person", _("a named person as preparer")),
    (r"a reviewer \(审核\): a named person", _("a named person as reviewer")),
    (r"a preparer \(制单\): a user with a name on record", _("a preparer whose name is on record")),
    (r"a reviewer \(审核\): a user with a name on record", _("a reviewer whose name is on record")),
    (r"a preparer \(制单\): an active user", _("an active user as preparer")),
    (r"a reviewer \(审核\): an active user", _("an active user as reviewer")),
    (r"someone who keeps book (?P<code>\S+) \(in their scope\)", _("someone who keeps book %(code)s")),
    (r"the draft's own maker \(制单\)", _("the draft's own maker")),
    (r"the draft's maker \(制单\) or an administrator", _("the draft's maker or an administrator")),
    (r"a voucher typed in the books", _("a voucher of the books' own (not part of a document)")),
    (r"a draft that still exists", _("a draft that still exists")),
    (r"someone other than the preparer", _("someone other than the preparer")),
    (r"a named person", _("a named person")),
    (r"reviewed before posting", _("reviewed before posting")),
    (r"a closing entry prepared for review \(year_end_prepare\)", _("a closing entry prepared for review")),
    (r"the balances it was prepared from", _("the balances it was prepared from")),
    (r"at most what is still owed, (?P<owed>\S+)", _("at most what is still owed, %(owed)s")),
    (r"a voucher of this transfer awaiting your review", _("a voucher of this transfer awaiting your review")),
    (r"a draft of this transfer you prepared", _("a draft of this transfer you prepared")),
    (r"(?:the|its) preparer or an administrator", _("the preparer or an administrator")),
    (r"a batch awaiting review", _("a batch awaiting review")),
    (r"posted in the fund's book first", _("posted in the fund's book first")),
    (r"an accountant of (?P<fund>.+) or of (?P<insurer>.+) \(the side follows from the role\)",
     _("an accountant of %(fund)s or of %(insurer)s (the side follows from the role)")),
    (r"an accountant of (?P<party>.+)", _("an accountant of %(party)s")),
    (r"insurer's entries awaiting review", _("the insurer's entries awaiting review")),
]

_FOUND = [
    (r"nothing", _("nothing")),
    (r"neither", _("neither")),
    (r"both", _("both")),
    (r"nobody", _("nobody")),
    (r"the maker", _("the maker")),
    (r"the same person", _("the same person")),
    (r"already posted", _("already posted")),
    (r"posted: reverse it instead", _("posted: reverse it instead")),
    (r"a draft: edit or delete it instead", _("a draft: edit or delete it instead")),
    (r"a reversal: post a new entry instead", _("a reversal: post a new entry instead")),
    (r"different content under the same key", _("different content under the same key")),
    (r"closed with the year \(final\)", _("closed with the year (final)")),
    (r"Σdebit (?P<dr>\S+), Σcredit (?P<cr>\S+)", _("Σdebit %(dr)s, Σcredit %(cr)s")),
    (r"(?P<date>\S+) in period (?P<period>\S+) \((?P<status>\w+)\)", _("%(date)s in period %(period)s (%(status)s)")),
    (r"(?P<date>\S+) \(year (?P<year>\d+) not opened\)", _("%(date)s (year %(year)s not opened)")),
    (r"debit (?P<dr>\S+) and credit (?P<cr>\S+)", _("debit %(dr)s and credit %(cr)s")),
    (r"draft #(?P<id>\d+) dated (?P<date>\S+) «(?P<memo>.*)»", _("draft #%(id)s dated %(date)s «%(memo)s»")),
    (r"(?P<code>\S+) already has postings", _("%(code)s already has postings")),
    (r"one under (?P<name>.+)", _("one under %(name)s")),
    (r"(?P<user>\S+) \(no name\)", _("%(user)s (no name on record)")),
    (r"posted meanwhile: reverse it instead", _("posted meanwhile: reverse it instead")),
    (r"deleted meanwhile", _("deleted meanwhile")),
    (r"part of a document \((?P<source>.+)\): change it there", _("part of a document (%(source)s): change it there")),
    (r"part of a document \((?P<source>.+)\): withdraw the document",
     _("part of a document (%(source)s): withdraw the document")),
    (r"the books moved since: prepare it again", _("the books moved since: prepare it again")),
    (r"none in your books", _("none in your books")),
    (r"none \(posted vouchers are corrected by reversal\)", _("none (posted vouchers are corrected by reversal)")),
    (r"the preparer", _("the preparer")),
    (r"none", _("none")),
    (r"draft", _("draft")),
]

# Period statuses inside a found value ("… (closed)"), shown as the period list shows them.
_STATUS = {"open": _("open"), "closed": _("closed"), "final": _("closed with the year (final)")}


def _translate(text: str, table) -> str:
    for pattern, translation in table:
        match = re.fullmatch(pattern, text, flags=re.DOTALL)
        if match is None:
            continue
        values = match.groupdict()
        if "label" in values:
            values["label"] = _translate(values["label"], _ENTRY)
        if "status" in values:
            values["status"] = str(_STATUS.get(values["status"], values["status"]))
        return str(translation) % values
    return text


def describe(problem: dict) -> str:
    """One problem as a sentence in the active language: where, what, expected, found."""
    return str(_("%(entry)s: %(field)s — expected %(expected)s, found %(found)s")) % {
        "entry": _translate(problem["entry"], _ENTRY),
        "field": _translate(problem["field"], _FIELD),
        "expected": _translate(problem["expected"], _EXPECTED),
        "found": _translate(problem["found"], _FOUND),
    }


def refusal_messages(request, exc: Refused, heading, *, action: str = "refused", obj=None) -> None:
    """A heading saying what did not happen, then every problem, each as its own message; and the refused
    attempt in the audit trail (the service's own transaction rolled back, this is written after it)."""
    from audit.services import audit_record

    audit_record(action=action, actor=request.user, request=request, obj=obj, outcome="refused",
                 detail={"what": str(heading), "path": request.path,
                         "problems": [Refused.describe(p) for p in exc.problems]})
    messages.error(request, heading)
    for p in exc.problems:
        messages.error(request, describe(p))


def check(write, *args, **kwargs) -> None:
    """Validate a form by running its service and rolling back (core.forms.dry_run), in the user's language."""
    try:
        dry_run(write, *args, **kwargs)
    except forms.ValidationError as exc:
        refused = exc.__cause__
        if not isinstance(refused, Refused):
            raise
        raise forms.ValidationError([describe(p) for p in refused.problems]) from refused
