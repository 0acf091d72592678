"""Bank statement uploads with a preview: the admin pages (built on the staging in `imports`)."""


def urls(model_admin) -> list:
    return []
