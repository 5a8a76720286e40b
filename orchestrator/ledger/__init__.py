"""The ledger: the only package that talks to PostgreSQL (SQLAlchemy 2, psycopg 3).

It records every grid signal, DR event, planner decision and migration. Other layers go through
one door, :class:`handle.Ledger`, and exchange plain records with it::

    handle          Ledger: owns the engine, opens every transaction, the reads and writes
                    the other layers need
    records         frozen dataclasses in and out (no ORM: an import contract checks it)
    vocab           closed sets (kinds, phases, outcomes...) and bounds, shared by all below
    models          the tables, every column commented
    rows            ORM rows -> records
    db              make_engine, transaction(), and database errors -> LedgerError
    validate        input checks run before any SQL (LedgerInputError)
    grid_repo       signals and DR events      } each function takes the transaction's
    migration_repo  migrations and phases      } Session and never commits
    decision_repo   planner decisions          }
    schema          upgrade_to_head / downgrade_to_base with Alembic (revisions in migrations/)
"""
