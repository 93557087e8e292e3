"""Every SQL statement of clicksift, named, one module per area of the schema.

SQL lives here and nowhere else (a test checks): ``store`` holds the store's own
statements (events, messages, verdicts, meta, migrations, the lease), and each other module
those of one area, beside the row shapes its reads return (``SqlStore.rows`` checks a
shape's fields against the columns a statement returns). Statements use ``?``
placeholders; PostgreSQL gets ``%s``. A ``{name}`` in a statement is filled from a fixed set
of fragments by its caller, never from input.
"""
