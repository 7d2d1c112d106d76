"""Alembic migrations, shipped inside the package so `openbank db upgrade` works anywhere."""
