"""The core's markdown as Slack mrkdwn, case by case against Slack's formatting rules
(api.slack.com/reference/surfaces/formatting): `*bold*`, `_italic_`, `~strike~`, `<url|text>` links, `>` quotes,
no headings or list syntax, and `&`, `<`, `>` escaped everywhere, code included, with nothing else touched in code."""

from __future__ import annotations

import pytest

from bot.adapters.slack.render import to_mrkdwn

ZWSP = "\u200b"

CASES = [
    # emphasis
    ("**bold**", "*bold*"),
    ("__bold__", "*bold*"),
    ("*italic*", "_italic_"),
    ("_italic_", "_italic_"),
    ("***both***", "*_both_*"),
    ("~~gone~~", "~gone~"),
    ("2 * 3 * 4", "2 * 3 * 4"),
    ("a snake_case_name stays", "a snake_case_name stays"),
    ("**a < b**", "*a &lt; b*"),
    # links
    ("[docs](https://pytorch.org/docs)", "<https://pytorch.org/docs|docs>"),
    ("[q](https://x.org/?a=1&b=2)", "<https://x.org/?a=1&amp;b=2|q>"),
    ("[a <b> & c](https://x.org)", "<https://x.org|a &lt;b&gt; &amp; c>"),
    ("[pytorch.org](https://evil.example)", "<https://evil.example>"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    # escaping and mentions
    ("a & b <c> d", "a &amp; b &lt;c&gt; d"),
    ("<@U1> <!channel>", "&lt;@U1&gt; &lt;!channel&gt;"),
    ("@here and @channel", f"@{ZWSP}here and @{ZWSP}channel"),
    ("&amp; stays literal", "&amp;amp; stays literal"),
    # code: verbatim but for & < >
    ("`x < y`", "`x &lt; y`"),
    ("`**not bold** @here`", "`**not bold** @here`"),
    ("```python\nif a < b and c > d & e:\n    print('**x** @here')\n```",
     "```\nif a &lt; b and c &gt; d &amp; e:\n    print('**x** @here')\n```"),
    ("```\nunclosed **code**", "```\nunclosed **code**\n```"),
    # block structure
    ("# Heading", "*Heading*"),
    ("### A **bold** heading ###", "*A bold heading*"),
    ("- one\n* two\n+ three", "• one\n• two\n• three"),
    ("- outer\n  - inner", "• outer\n  • inner"),
    ("1. first\n2. second", "1. first\n2. second"),
    ("> quoted <text>", "> quoted &lt;text&gt;"),
    ("> - quoted item", "> • quoted item"),
    ("---", "\u2015" * 12),
    ("a\r\nb", "a\nb"),
]


@pytest.mark.parametrize(("markdown", "expected"), CASES, ids=[c[0][:30] for c in CASES])
def test_markdown_becomes_slack_mrkdwn(markdown: str, expected: str) -> None:
    assert to_mrkdwn(markdown) == expected
