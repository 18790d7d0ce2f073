"""Opt-in storage of saved visits: a pseudonymous child, its visits and their answers, in SQLite (embedded default)
or PostgreSQL, with an audit log (stage after the answers and reports: it keeps what they produced)."""
