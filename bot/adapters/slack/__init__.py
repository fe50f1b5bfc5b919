"""Slack through slack-bolt: slash commands, buttons, mentions, DMs, App Home, over HTTP or Socket Mode."""

from bot.adapters.slack.app import SlackAdapter, build_slack_adapter

__all__ = ["SlackAdapter", "build_slack_adapter"]
