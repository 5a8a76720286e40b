"""The ledger: the only package that talks to PostgreSQL (SQLAlchemy 2, psycopg 3).

It records every grid signal, DR event, planner decision and migration::

    vocab           closed sets (kinds, phases, outcomes...) and bounds, shared by all below
    models          the five tables, every column commented
    db              make_engine, session_factory, and database errors -> LedgerError
    validate        input checks run before any SQL (ValueError)
    records         frozen dataclasses the queries return
    repository      every read and write, each taking the caller's Session (never commits);
                    implemented in grid_repo, migration_repo and decision_repo
    schema          upgrade_to_head / downgrade_to_base with Alembic (revisions in migrations/)
"""
