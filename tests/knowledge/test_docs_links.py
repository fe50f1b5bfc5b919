"""Links to the official docs: URLs built from API names, names checked against the installed torch."""

from __future__ import annotations

import pytest

from knowledge.docs_links import UnknownDocsName, is_well_formed, links, resolve, url_for
from knowledge.loader import parse_markdown

STABLE = "https://docs.pytorch.org/docs/stable"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("torch.cat", f"{STABLE}/generated/torch.cat.html"),
        ("torch.nn.MultiheadAttention", f"{STABLE}/generated/torch.nn.MultiheadAttention.html"),
        ("torch.Tensor.detach", f"{STABLE}/generated/torch.Tensor.detach.html"),
        ("torch.nn.functional.scaled_dot_product_attention",
         f"{STABLE}/generated/torch.nn.functional.scaled_dot_product_attention.html"),
        ("torch.nn.utils.rnn.pack_padded_sequence", f"{STABLE}/generated/torch.nn.utils.rnn.pack_padded_sequence.html"),
        ("torch.utils.data.DataLoader", f"{STABLE}/data.html#torch.utils.data.DataLoader"),
        ("torch.distributions", f"{STABLE}/distributions.html"),
        ("torch.distributions.normal.Normal", f"{STABLE}/distributions.html#torch.distributions.normal.Normal"),
        ("torch.distributed.fsdp.fully_shard", f"{STABLE}/distributed.fsdp.fully_shard.html"),
        ("torch.nn.init.kaiming_normal_", f"{STABLE}/nn.init.html#torch.nn.init.kaiming_normal_"),
        ("torch.autocast", f"{STABLE}/amp.html"),
        ("torch.amp.GradScaler", f"{STABLE}/amp.html#torch.amp.GradScaler"),
        ("torch.nn.functional", f"{STABLE}/nn.functional.html"),
        ("torch.cuda", f"{STABLE}/cuda.html"),
        ("notes/cuda", f"{STABLE}/notes/cuda.html"),
        ("notes/autograd", f"{STABLE}/notes/autograd.html"),
    ],
)
def test_url_for_each_kind_of_name(name: str, url: str) -> None:
    assert url_for(name) == url


@pytest.mark.parametrize("name", ["numpy.cat", "notes/nonsense", "torch.cat()", "torch..cat", "https://evil.example/x",
                                  "torch.cat html", ""])
def test_malformed_names_are_refused(name: str) -> None:
    assert not is_well_formed(name)
    with pytest.raises(UnknownDocsName):
        url_for(name)


def test_resolve_walks_modules_and_attributes_of_the_installed_torch() -> None:
    import torch

    assert resolve("torch.cat") is torch.cat
    assert resolve("torch.nn.MultiheadAttention") is torch.nn.MultiheadAttention
    assert resolve("torch.Tensor.detach") is torch.Tensor.detach
    assert resolve("torch.distributions.normal.Normal") is torch.distributions.Normal
    assert resolve("notes/cuda") == "notes/cuda"
    for missing in ["torch.concatenate_all", "torch.nn.MultiHeadAttention", "torch.nn.functional.no_such_thing",
                    "torch.notamodule.x", "notes/nonsense"]:
        with pytest.raises(UnknownDocsName):
            resolve(missing)


def test_a_module_that_needs_an_optional_package_resolves_but_its_unknown_members_do_not() -> None:
    import importlib.util

    found = resolve("torch.utils.tensorboard")  # needs the tensorboard package, which may be absent
    assert found == "torch.utils.tensorboard" or found.__name__ == "torch.utils.tensorboard"
    with pytest.raises(UnknownDocsName):
        resolve("torch.utils.tensorboard.no_such_module")
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(UnknownDocsName):
            resolve("torch.utils.tensorboard.SummaryWriter")  # members cannot be checked without it


def test_links_keep_order_and_leave_out_malformed_names() -> None:
    assert links(("torch.stack", "bogus", "notes/faq")) == (
        ("torch.stack", f"{STABLE}/generated/torch.stack.html"),
        ("notes/faq", f"{STABLE}/notes/faq.html"),
    )


def test_loader_reads_the_docs_line() -> None:
    report = parse_markdown(
        "### How do I join tensors?\n"
        "Also asked: concatenate tensors\n"
        "Tags: tensors\n"
        "Docs: `torch.cat`, torch.stack(), torch.cat, javascript.Array, notes/broadcasting\n"
        "\n**Answer:**\nUse `torch.cat`.\n",
        source="snippet.md",
    )
    (entry,) = report.entries
    assert entry.docs == ("torch.cat", "torch.stack", "notes/broadcasting")
    assert entry.answer == "Use `torch.cat`."
    assert report.warnings == ["line 1: Docs name 'javascript.Array' is not a torch API name or notes page; left out"]


def test_an_entry_without_a_docs_line_cites_nothing() -> None:
    report = parse_markdown("### How do I join tensors?\nTags: tensors\n\n**Answer:**\nUse `torch.cat`.\n")
    assert report.entries[0].docs == ()
