"""Running the bot: knowledge entries, gaps, dashboard accounts, and the statistics admins read."""
