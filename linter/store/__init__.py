"""What persists between runs: the ledger file (``--ledger``) and what it records.

- :mod:`linter.store.db`: the file: its schema and migrations, the run lock, the connection;
  :class:`~linter.store.db.Ledger` opens it for a run and hands out the views below.
- :mod:`linter.store.objects`: the object records of each audited root
  (:class:`~linter.store.objects.TargetLedger`), for immutability and incremental runs.
- :mod:`linter.store.audits`: the audit history (:class:`~linter.store.audits.AuditHistory`):
  findings new, existing or fixed.
- :mod:`linter.store.records`: the records the rules and reports read, free of SQLite.
- :mod:`linter.store.codec`: the compact per-object record format.
- :mod:`linter.store.errors`: :class:`~linter.store.errors.LedgerError`.

This package imports nothing itself, so a rule importing :mod:`linter.store.records` loads no
storage code.
"""
