from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from accounts.services import regions_load
from core.commands import JsonCommand

SHIPPED = Path(settings.BASE_DIR) / "data" / "regions"


class Command(JsonCommand):
    help = ("Load pooling regions from a CSV (code, name, level, parent_code), by default every file shipped in "
            "data/regions/ (the Jilin regions the top-up table names). Loading again creates nothing; a region "
            "that disagrees with one already there is refused.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("files", nargs="*", help="CSV files (default: data/regions/*.csv)")

    def run(self, *, files, **options):
        paths = [Path(f) for f in files] or sorted(SHIPPED.glob("*.csv"))
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise CommandError(_("no such file: %(file)s") % {"file": ", ".join(missing)}, returncode=2)
        created = {p.name: regions_load(p) for p in paths}
        text = "；".join(f"{name}：新建 {n} 个统筹地区" for name, n in created.items())
        return True, {"created": created}, text
