"""The ledger: the only package that talks to PostgreSQL (SQLAlchemy 2, psycopg 3).

It records every grid signal, DR event, planner decision and migration, joined into one causal
chain. Other layers go through one door, :class:`handle.Ledger`, and exchange plain records
with it::

    handle          Ledger: owns the engine, opens every transaction, the reads and writes
                    the other layers need
    records         frozen dataclasses in and out (no ORM: an import contract checks it)
    vocab           closed sets (kinds, phases, outcomes...) and bounds, shared by all below
    models          every table (grid_models, move_models; base: naming and column helpers)
    rows            ORM rows -> records
    db              make_engine, transaction(), and database errors -> LedgerError
    validate        input checks run before any SQL (LedgerInputError)
    grid_repo       signals and DR events as the grid sent them    } each function takes the
    dr_repo         how each DR event's response went: states,     } transaction's Session
                    outcome, shed curve                            } and never commits
    decision_repo   planner decisions, joined to their signals     }
    migration_repo  migrations and phases, joined to their decision}
    story_repo      the chain read back: why a move happened, a DR event's report
    schema          upgrade / downgrade with Alembic (revisions in migrations/)
"""
