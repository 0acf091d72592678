"""`settle CONTRACT YEAR`: drafts from the books; refuses before the cut-off; --dry-run writes nothing."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reconciliation.models import Settlement
from tests.reconciliation.test_settle import _a_years_claims_in_one_line, jincheng, people  # noqa: F401 - fixtures


def _settle(*args):
    out = StringIO()
    try:
        call_command("settle", *args, "--json", stdout=out)
        return 0, json.loads(out.getvalue())
    except SystemExit as exc:
        return exc.code, json.loads(out.getvalue())


@pytest.mark.django_db
def test_settle_command(jincheng, people):  # noqa: F811
    # A settlement is prepared by a named person: without --as the command is refused as bad usage.
    with pytest.raises(CommandError, match="有姓名的人员编制"):
        call_command("settle", "JC-2019", "2019", "--as-of", "2020-05-20")
    me = ("--as", people[0].username)
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-03-31", *me)
    assert code == 1 and out["problems"][0]["expected"] == "a date after the cut-off 2020-03-31"
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-05-20", "--dry-run", *me)
    assert (code, out["status"], out["outcome"]["surplus_returned"]) == (0, "dry-run", "17055362.94")
    assert not Settlement.objects.exists()
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-05-20", *me)
    assert (code, out["status"]) == (0, "draft")
    assert Settlement.objects.get().prepared_by == people[0]
    # The reviewer may not prepare one (no right to add settlements): refused and recorded.
    Settlement.objects.all().delete()
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-05-20", "--as", people[1].username)
    assert code == 1 and not Settlement.objects.exists()
