"""Raw SQL for database guards (triggers), written per vendor and run by a migration."""


def run_by_vendor(statements_by_vendor: dict, what: str):
    """A RunPython function running the statements written for the connection's vendor."""

    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements_by_vendor:
            raise RuntimeError(f"{what} are written for SQLite and PostgreSQL, not {vendor}")
        # Straight to the cursor without parameters: PL/pgSQL bodies use format('%s'), which a
        # parameterised execute would take for placeholders.
        with schema_editor.connection.cursor() as cursor:
            for sql in statements_by_vendor[vendor]:
                cursor.execute(sql)

    return run
