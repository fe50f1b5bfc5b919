"""Bolt's SQLAlchemy installation and OAuth-state stores on our database, for the asyncio app.

slack_sdk's async SQLAlchemy stores need an async driver (aiosqlite, asyncpg); ours is synchronous, so the
synchronous stores run in a worker thread instead, on the same engine as everything else. The installation
store also answers for the workspace of the single-workspace bot token, when one is configured alongside OAuth.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from bot.db.slack import BOTS_TABLE, INSTALLATIONS_TABLE, OAUTH_STATES_TABLE

log = logging.getLogger(__name__)

OAUTH_STATE_TTL_S = 600


class DatabaseInstallationStore(AsyncInstallationStore):
    """Installations saved by the OAuth flow, in our database; falls back to the configured bot token."""

    def __init__(self, client_id: str, engine: Engine, *, fallback_token: str | None = None,
                 client: AsyncWebClient | None = None) -> None:
        self._store = SQLAlchemyInstallationStore(client_id, engine, bots_table_name=BOTS_TABLE,
                                                  installations_table_name=INSTALLATIONS_TABLE, logger=log)
        self._fallback_token = fallback_token
        self._client = client
        self._fallback_bot: Bot | None = None

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self._store.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self._store.save_bot, bot)

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        return await asyncio.to_thread(self._store.find_installation, enterprise_id=enterprise_id, team_id=team_id,
                                       user_id=user_id, is_enterprise_install=is_enterprise_install)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        bot = await asyncio.to_thread(self._store.find_bot, enterprise_id=enterprise_id, team_id=team_id,
                                      is_enterprise_install=is_enterprise_install)
        if bot is not None:
            return bot
        fallback = await self._fallback()
        return fallback if fallback is not None and fallback.team_id == team_id else None

    async def _fallback(self) -> Bot | None:
        if self._fallback_token is None or self._client is None:
            return None
        if self._fallback_bot is None:
            identity = await self._client.auth_test(token=self._fallback_token)
            self._fallback_bot = Bot(bot_token=self._fallback_token, bot_id=str(identity.get("bot_id") or ""),
                                     bot_user_id=str(identity.get("user_id") or ""),
                                     team_id=identity.get("team_id"), team_name=identity.get("team"),
                                     installed_at=time.time())
        return self._fallback_bot

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self._store.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        await asyncio.to_thread(self._store.delete_installation, enterprise_id=enterprise_id, team_id=team_id,
                                user_id=user_id)


class DatabaseOAuthStateStore(AsyncOAuthStateStore):
    """The OAuth flow's one-time `state` values, in our database so any process can finish an install."""

    def __init__(self, engine: Engine, expiration_seconds: int = OAUTH_STATE_TTL_S) -> None:
        self._store = SQLAlchemyOAuthStateStore(expiration_seconds, engine, logger=log, table_name=OAUTH_STATES_TABLE)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self._store.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self._store.consume, state)
