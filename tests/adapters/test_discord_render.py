"""Rendering replies within Discord's limits: pure functions, no client."""

from __future__ import annotations

import discord
import pytest

from bot.adapters.discord.render import render, split_markdown
from bot.core.conversation import Button, Image, Reply

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_short_plain_reply_is_content_and_mentions_nothing() -> None:
    rendered = render(Reply("@everyone hello <@123>", ephemeral=True))
    kwargs = rendered.send_kwargs()
    assert kwargs["content"] == "@everyone hello <@123>" and "embeds" not in kwargs
    assert kwargs["allowed_mentions"].to_dict() == {"parse": []}
    assert rendered.ephemeral and "view" not in kwargs
    edit = rendered.edit_kwargs()
    assert edit["embeds"] == [] and edit["view"] is None and edit["attachments"] == []  # the old look is cleared


def test_an_answer_is_an_embed_with_its_citation_and_fields() -> None:
    reply = Reply("Tensors are arrays.", title="What is a tensor?", citation="tensors (basics.md)",
                  fields=(("loss", "0.1"), ("device", "cuda:0")), kind="answer")
    [embed] = render(reply).embeds
    assert embed.title == "What is a tensor?" and embed.description == "Tensors are arrays."
    assert embed.footer.text == "Source: tensors (basics.md)"
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [("loss", "0.1", True), ("device", "cuda:0", True)]


def test_an_answer_links_the_docs_it_cites_in_a_field() -> None:
    docs = (("torch.cat", "https://docs.pytorch.org/docs/stable/generated/torch.cat.html"),
            ("notes/cuda", "https://docs.pytorch.org/docs/stable/notes/cuda.html"))
    [embed] = render(Reply("Use cat.", title="Join?", fields=(("loss", "0.1"),), docs=docs, kind="answer")).embeds
    assert [(f.name, f.value) for f in embed.fields] == [("loss", "0.1"), (
        "Docs", "[torch.cat](https://docs.pytorch.org/docs/stable/generated/torch.cat.html), "
                "[notes/cuda](https://docs.pytorch.org/docs/stable/notes/cuda.html)")]
    assert render(Reply("no title, only links", docs=docs)).embeds, "links need an embed"


def test_content_longer_than_2000_characters_moves_into_an_embed() -> None:
    rendered = render(Reply("word " * 700))
    assert rendered.content is None and rendered.embeds[0].description == "word " * 700


async def test_buttons_fit_discords_rules() -> None:  # async: a View needs a running loop to be stopped
    buttons = tuple(Button(f"quiz:answer:1:{n}", "label " * 30) for n in range(30))
    buttons += (Button("quiz:answer:1:0", "duplicate"), Button("x" * 101, "too long an id"), Button("a:b", " "))
    rendered = render(Reply("pick one", buttons=buttons))
    assert len(rendered.buttons) == 25 and len({b.id for b in rendered.buttons}) == 25
    assert all(0 < len(b.label) <= 80 for b in rendered.buttons)
    view = rendered.view()
    assert view is not None and view.is_finished()  # discord.py keeps no state: presses route by custom_id
    rows = view.to_components()
    assert len(rows) <= 5 and all(len(row["components"]) <= 5 for row in rows)


def test_styles_map_and_unknown_styles_fall_back() -> None:
    rendered = render(Reply("x", buttons=(Button("a:1", "A", "danger"), Button("a:2", "B", "weird"))))
    view = rendered.view()
    assert view is not None
    assert [item.style for item in view.children] == [discord.ButtonStyle.danger,  # type: ignore[attr-defined]
                                                       discord.ButtonStyle.secondary]


def test_crowded_embeds_stay_within_6000_characters() -> None:
    fields = tuple((f"metric {n}", "v" * 1024) for n in range(40))
    reply = Reply("t" * 5000, title="T" * 300, citation="c" * 3000, fields=fields)
    rendered = render(reply, more_id="tt:more:abc")
    [embed] = rendered.embeds
    assert len(embed) <= 6000 and len(embed.title or "") <= 256 and len(embed.footer.text or "") <= 2048
    assert len(embed.fields) <= 25 and len(embed.description or "") <= 4096
    assert rendered.more and rendered.buttons[-1].id == "tt:more:abc:1"  # nothing is lost: the rest is paged
    rest = "\n".join(rendered.more)
    assert "**metric 39:**" in rest


def test_images_are_attached_with_safe_distinct_names_and_shown_in_the_embed() -> None:
    images = tuple(Image(PNG, "loss curve.png") for _ in range(12))
    rendered = render(Reply("done", images=images))
    names = [image.filename for image in rendered.images]
    assert len(names) == 10 and len(set(names)) == 10 and names[0] == "loss_curve.png"
    assert rendered.embeds[0].image.url == "attachment://loss_curve.png"
    assert [f.filename for f in rendered.files()] == names


def test_without_a_show_more_key_long_text_is_cut_to_one_page() -> None:
    rendered = render(Reply("line\n" * 2000))
    assert not rendered.more and len(rendered.embeds[0].description or "") <= 4096


@pytest.mark.parametrize("limit", [100, 500, 4096])
def test_split_markdown_keeps_code_fences_closed_and_loses_nothing(limit: int) -> None:
    code = "\n".join(f"    y{n} = model(x{n})" for n in range(300))
    text = "Intro paragraph.\n\n```python\n" + code + "\n```\n\nOutro " + "word " * 200
    pages = split_markdown(text, limit)
    assert all(len(page) <= limit for page in pages)
    assert all(page.count("```") % 2 == 0 for page in pages)
    joined = "\n".join(pages)
    assert all(f"    y{n} = model(x{n})" in joined.splitlines() for n in range(300))  # indentation kept


def test_split_markdown_cuts_a_text_without_breaks() -> None:
    pages = split_markdown("x" * 10_000, 4096)
    assert [len(p) for p in pages] == [4092, 4092, 1816]
