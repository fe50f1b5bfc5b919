"""The platform-neutral core: what the bot does, whichever chat it is reached from.

Rooms: `answering/` (knowledge, matching, answers), `demos/` (`/demo`, `/run`, their messages), `learning/`
(quizzes, review, study channels, progress), `admin/` (entries, gaps, accounts, statistics). At the top: the
conversation types adapters speak (`conversation`), the facade that routes them (`tutor`), and small shared seams
(`outbox`, `errors`, `identity`, `telemetry`, `text`, `background`).
"""
