import importlib
import time

from core.commands import JsonCommand

# Each benchmark is a module of the bench package with run(**options) -> dict of figures, and optionally
# add_arguments(parser) for its own flags. Each gets a scratch database of its own, so one's rows never
# slow another.
BENCHMARKS = ("ledger", "claims", "reports", "pages", "province")
# Run when no --only is given: the ones that fit in a few minutes on a laptop.
DEFAULT = ("ledger", "claims", "reports")


def _module(name: str):
    return importlib.import_module(f"bench.{name}")


class Command(JsonCommand):
    help = "Run the benchmarks in a scratch database and print their figures (never touches real books)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--n", type=int, default=100_000, help="entries to post (default 100000)")
        parser.add_argument("--claims", type=int, default=1_000_000, help="claims to import (default 1000000)")
        parser.add_argument("--tb-postings", type=int, default=1_000_000,
                            help="postings in the book whose 科目余额表 is timed (default 1000000)")
        parser.add_argument("--ledger-entries", type=int, default=17_500,
                            help="entries in the book whose 明细账 a worker draws (default 17500: about 1,000 pages)")
        parser.add_argument("--only", choices=BENCHMARKS, help="run one benchmark")
        for name in BENCHMARKS:
            hook = getattr(_module(name), "add_arguments", None)
            if hook is not None:
                hook(parser)

    def run(self, *, only=None, **options):
        from django.conf import settings

        from bench.scratch import scratch_database

        # Measure what production runs: no per-query debug logging.
        settings.DEBUG = False

        t0 = time.perf_counter()
        figures = {}
        for name in (only,) if only else DEFAULT:
            with scratch_database():
                figures.update(_module(name).run(**options))
        figures["seconds"] = round(time.perf_counter() - t0, 1)
        text = "\n".join(f"{k:>16}: {v}" for k, v in figures.items())
        return True, figures, text
