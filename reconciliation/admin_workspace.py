"""The bank reconciliation workspace: per bank account and month, lines and postings side by side."""


def urls(model_admin) -> list:
    return []
