"""``gridshift report``: demand-response compliance from the ledger alone, per event and per day.

    compliance  ledger records -> EventReport / DayReport: curve, outcome, moves, energy, saving
    formats     text, JSON and CSV
    chart       the shed curve against the target, as SVG built from the samples

Pure: the records come from :class:`orchestrator.ledger.handle.Ledger` (through
:mod:`orchestrator.overview`); nothing here reads a database, a cluster or the clock.
"""
