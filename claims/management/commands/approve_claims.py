from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from claims.models import ClaimBatch
from claims.services import claims_post
from core.commands import JsonCommand


class Command(AsUser, JsonCommand):
    help = ("Review and post a prepared claims batch into the insurer's book (审核记账), as the --as user, "
            "who must not be the batch's preparer.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("batch", type=int, help="the batch number import_claims printed")

    def run(self, *, batch, **options):
        b = ClaimBatch.objects.filter(pk=batch).first()
        if b is None:
            raise CommandError(_("no claims batch %(batch)s") % {"batch": batch}, returncode=2)
        if self.user is None:
            raise CommandError(_("a batch is approved by a named reviewer: give --as USERNAME (or LEDGER_USER)"),
                               returncode=2)
        self.authorize(b, "ledger.post_journalentry")
        posted = claims_post(batch=b, reviewed_by=self.user)
        b.refresh_from_db()
        payload = {"batch": b.pk, "status": b.status, "entries_posted": posted}
        return True, payload, f"批次 {b.pk}（{b.file_name}）已审核记账：凭证 {posted} 张（按月、按医院）。"
