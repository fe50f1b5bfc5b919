"""Live demos and learners' own snippets (`/demo`, `/run`): jobs, their chat messages, and picking them up again."""
