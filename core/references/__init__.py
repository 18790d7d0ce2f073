"""Reference cries: a pain answer judged against the same infant's own cries recorded without pain (stage after the
heads and the input check, before the answers)."""
