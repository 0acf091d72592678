from django.core.exceptions import ValidationError


class Refused(ValidationError):
    """Input that is refused; nothing was written.

    `problems` lists every fault found, each naming where (the entry), what field,
    what was expected and what was found, so a user can fix all of them at once.
    """

    def __init__(self, problems: list[dict]):
        self.problems = problems
        super().__init__([self.describe(p) for p in problems], code="refused")

    @staticmethod
    def describe(problem: dict) -> str:
        return f"{problem['entry']}: {problem['field']} — expected {problem['expected']}, found {problem['found']}"

    def __str__(self) -> str:
        return "; ".join(self.describe(p) for p in self.problems)


def problem(entry: str, field: str, expected: str, found) -> dict:
    return {"entry": entry, "field": field, "expected": expected, "found": str(found)}
