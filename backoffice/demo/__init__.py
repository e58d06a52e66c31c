"""Demo data: units, organizations across districts and sectors, residents with varied histories, and the
demo accounts the README lists. Deterministic (seeded RNG) and idempotent (running it twice adds nothing)."""
