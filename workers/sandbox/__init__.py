"""The snippet sandbox: a bubblewrap jail with limits enforced from outside (`jail`), and the `/run` job."""

from workers.sandbox.jail import (
    OUTCOMES,
    GpuBinding,
    Jail,
    Limits,
    SandboxUnavailable,
    SnippetResult,
)

__all__ = ["OUTCOMES", "GpuBinding", "Jail", "Limits", "SandboxUnavailable", "SnippetResult"]
