"""Imports every model module so the metadata Alembic sees is complete."""

from bot.db import account_models, job_models, knowledge_models, models, quiz_models, run_models, slack  # noqa: F401
from bot.db.base import Base

metadata = Base.metadata
