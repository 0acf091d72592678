import time

from core.commands import JsonCommand


class Command(JsonCommand):
    help = "Run the benchmarks in a scratch database and print their figures (never touches real books)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--n", type=int, default=100_000, help="entries to post (default 100000)")

    def run(self, *, n, **options):
        from django.conf import settings

        from bench import ledger
        from bench.scratch import scratch_database

        # Measure what production runs: no per-query debug logging.
        settings.DEBUG = False

        t0 = time.perf_counter()
        with scratch_database():
            figures = ledger.run(n)
        figures["seconds"] = round(time.perf_counter() - t0, 1)
        text = "\n".join(f"{k:>16}: {v}" for k, v in figures.items())
        return True, figures, text
