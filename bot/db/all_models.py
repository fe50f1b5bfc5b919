"""Imports every model module so the metadata Alembic sees is complete."""

from bot.db import knowledge_models, models  # noqa: F401
from bot.db.base import Base

metadata = Base.metadata
