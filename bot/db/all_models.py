"""Imports every model module so the metadata Alembic sees is complete."""

from bot.db import (  # noqa: F401
    account_models,
    job_models,
    knowledge_models,
    models,
    quiz_models,
    run_models,
    slack,
    thread_models,
)
from bot.db.base import Base

metadata = Base.metadata
