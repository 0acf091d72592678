from access.roles import ROLES
from access.services import user_create
from core.commands import JsonCommand


class Command(JsonCommand):
    help = ("Create a staff user in one role (fund_accountant, reviewer, insurer_accountant, auditor, administrator), "
            "scoped to regions (each with its sub-regions) and insurers. The password is read from --password or "
            "the LEDGER_PASSWORD environment variable.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--region", action="append", default=[], metavar="CODE")
        parser.add_argument("--insurer", action="append", default=[], metavar="CODE")
        parser.add_argument("--everything", action="store_true", help="no region or insurer limit")
        parser.add_argument("--name", default="", help="full name")
        parser.add_argument("--password", help="better: set LEDGER_PASSWORD, so it stays out of the shell history")

    def run(self, *, username, role, region, insurer, everything, name, password=None, **options):
        import os

        user = user_create(username=username, password=password or os.environ.get("LEDGER_PASSWORD", ""), role=role,
                           regions=region, insurers=insurer, everything=everything, full_name=name)
        scope = "全部账套" if user.scope.everything else "、".join(region + insurer)
        return True, {"username": username, "role": role, "regions": region, "insurers": insurer,
                      "everything": user.scope.everything}, f"已创建用户 {username}（{ROLES[role].group}），范围：{scope}"
