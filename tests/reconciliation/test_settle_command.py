"""`settle CONTRACT YEAR`: drafts from the books; refuses before the cut-off; --dry-run writes nothing."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from reconciliation.models import Settlement
from tests.reconciliation.test_settle import jincheng  # noqa: F401 - fixture


def _settle(*args):
    out = StringIO()
    try:
        call_command("settle", *args, "--json", stdout=out)
        return 0, json.loads(out.getvalue())
    except SystemExit as exc:
        return exc.code, json.loads(out.getvalue())


@pytest.mark.django_db
def test_settle_command(jincheng):  # noqa: F811
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-03-31")
    assert code == 1 and out["problems"][0]["expected"] == "a date after the cut-off 2020-03-31"
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-05-20", "--dry-run")
    assert (code, out["status"], out["outcome"]["surplus_returned"]) == (0, "dry-run", "17055362.94")
    assert not Settlement.objects.exists()
    code, out = _settle("JC-2019", "2019", "--as-of", "2020-05-20")
    assert (code, out["status"]) == (0, "draft") and Settlement.objects.count() == 1
