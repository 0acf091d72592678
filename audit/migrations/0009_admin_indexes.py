"""Indexes the admin's audit trail reads at a province's size (issue 16): newest first, plain or filtered by
action or by book. Raw SQL, kept out of the model state (the trail's table is never rebuilt)."""

from django.db import migrations

CREATE = [
    "CREATE INDEX IF NOT EXISTS audit_newest ON audit_auditevent (at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS audit_action_newest ON audit_auditevent (action, at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS audit_book_newest ON audit_auditevent (book_code, at DESC, id DESC)",
]
DROP = ["DROP INDEX IF EXISTS audit_newest", "DROP INDEX IF EXISTS audit_action_newest",
        "DROP INDEX IF EXISTS audit_book_newest"]


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_opening_and_attachment_actions")]
    operations = [migrations.RunSQL(CREATE, DROP)]
