"""The ledger: the only package that talks to PostgreSQL (SQLAlchemy 2, psycopg 3)."""
