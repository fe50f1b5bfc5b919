"""The encoder backends: ONNX Runtime and sentence-transformers give the same answer to every evaluation question.

Speed is measured by benchmarks/ask.py, never here; here each backend must be correct.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.core.answering.knowledge import DEFAULT_DOCS, KnowledgeService
from bot.core.answering.matching import AskService
from knowledge import onnx_model
from knowledge.cache import EmbeddingCache
from knowledge.embedder import Embedder, OnnxEmbedder, get_embedder
from knowledge.evaluation import read_cases
from knowledge.index import entry_texts
from knowledge.loader import load_entries

REPO = Path(__file__).resolve().parents[2]
EVAL_FILES = sorted((REPO / "knowledge" / "eval").glob("*.tsv"))
FIXTURE = Path(__file__).parent / "data" / "retrieval.md"


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    embedder = get_embedder("torch")
    embedder.load()
    assert isinstance(embedder, Embedder)
    return embedder


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    embedder = get_embedder("onnx")
    embedder.load()
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EmbeddingCache]:
    """Each backend encodes the knowledge texts once for the module (the slow part on a busy machine)."""
    folder = tmp_path_factory.mktemp("backend-caches")
    return {name: EmbeddingCache(folder, get_embedder(name).name) for name in ("torch", "onnx")}


def _answers(embedder, cache: EmbeddingCache, questions: list[str]) -> list[tuple]:  # type: ignore[no-untyped-def]
    knowledge = KnowledgeService([DEFAULT_DOCS], embedder, cache)
    knowledge.reload()
    service = AskService(knowledge, embedder)
    return [(a.status, a.note, a.hit.entry.id if a.hit else None, a.hit.score if a.hit else 0.0,
             [h.entry.id for h in a.related], a.alternative.entry.id if a.alternative else None)
            for a in service.answer_many(questions)]


@pytest.mark.parametrize("path", EVAL_FILES, ids=[p.name for p in EVAL_FILES])
def test_every_eval_question_gets_the_same_answer_from_both_backends(
        path: Path, torch_embedder: Embedder, onnx_embedder: OnnxEmbedder, caches: dict[str, EmbeddingCache]) -> None:
    questions = [case.question for case in read_cases(path)]
    by_torch = _answers(torch_embedder, caches["torch"], questions)
    by_onnx = _answers(onnx_embedder, caches["onnx"], questions)
    for question, (status, note, entry, score, related, alternative), other in zip(questions, by_torch, by_onnx,
                                                                                   strict=True):
        assert (other[0], other[1], other[2], other[4], other[5]) == (status, note, entry, related, alternative), \
            question
        assert other[3] == pytest.approx(score, abs=1e-5), question
    assert {status for status, *_ in by_onnx} == {"answered", "no_match"}  # the set exercises both outcomes


def test_vectors_match_on_every_knowledge_text_batched_or_alone(
        torch_embedder: Embedder, onnx_embedder: OnnxEmbedder, caches: dict[str, EmbeddingCache]) -> None:
    texts = [t for e in load_entries([DEFAULT_DOCS, FIXTURE]) for t in entry_texts(e)]
    texts += ["  padded with spaces  ", "x", "retain_graph=True " * 200]  # stripped, one token, truncated
    reference = caches["torch"].encode(texts, torch_embedder)
    batched = caches["onnx"].encode(texts, onnx_embedder)
    assert batched.shape == reference.shape == (len(texts), 384) and batched.dtype == np.float32
    assert np.abs(batched - reference).max() < 1e-5
    alone = np.stack([onnx_embedder.encode([t])[0] for t in texts[::25] + texts[-3:]])
    assert np.abs(alone - reference[list(range(0, len(texts), 25)) + [-3, -2, -1]]).max() < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_the_backends_keep_separate_embedding_caches() -> None:
    assert get_embedder("onnx").name != get_embedder("torch").name
    with pytest.raises(ValueError, match="unknown encoder backend 'tf'"):
        get_embedder("tf")


@pytest.mark.slow
def test_export_falls_back_to_the_cache_dir_and_matches_the_installed_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, onnx_embedder: OnnxEmbedder) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("the environment's share folder cannot be created under a file")
    monkeypatch.setattr(sys, "prefix", str(blocked))
    cache = tmp_path / "cache"
    assert onnx_model.find(cache) is None
    exported = onnx_model.ensure(cache)
    assert exported == cache / "models" / onnx_model.export_name() / onnx_model.FILE_NAME
    assert onnx_model.find(cache) == exported and onnx_model.ensure(cache) == exported  # found, not re-exported
    texts = ["How do I move a tensor to the GPU?", "what is autograd"]
    assert np.abs(OnnxEmbedder(exported).encode(texts) - onnx_embedder.encode(texts)).max() < 1e-5


def test_the_export_command_prints_the_model_path() -> None:
    done = subprocess.run([sys.executable, "-m", "knowledge.onnx_model"], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.is_file() and path.name == onnx_model.FILE_NAME and path == onnx_model.find(None)


def test_a_process_that_only_encodes_never_imports_torch() -> None:
    code = ("import sys; from knowledge.embedder import get_embedder; e = get_embedder('onnx'); "
            "e.encode(['what is a tensor']); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'sentence_transformers')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


class Counting:
    """A tiny deterministic encoder that counts what it encodes."""

    dimension = 4
    name = "counting"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        return np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float32)


def test_the_embedding_cache_is_one_memory_mapped_file_that_grows(tmp_path: Path) -> None:
    encoder = Counting()
    first = EmbeddingCache(tmp_path, "counting").encode(["alpha", "beta", "alpha"], encoder)
    assert encoder.encoded == ["alpha", "beta"] and first.tolist()[0] == first.tolist()[2]
    cache = EmbeddingCache(tmp_path, "counting")  # a restart: read from the file, nothing encoded
    again = cache.encode(["beta", "alpha"], encoder)
    assert encoder.encoded == ["alpha", "beta"] and again.tolist() == first[[1, 0]].tolist()
    assert isinstance(cache._stored, np.memmap) and again.dtype == np.float32 and again.flags.c_contiguous
    grown = cache.encode(["gamma", "alpha"], encoder)  # one new text is encoded and stored with the rest
    assert encoder.encoded == ["alpha", "beta", "gamma"] and grown[1].tolist() == first[0].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings-counting.npy"]
    restarted = EmbeddingCache(tmp_path, "counting").encode(["gamma", "beta", "alpha"], encoder)
    assert encoder.encoded == ["alpha", "beta", "gamma"] and restarted.tolist()[0] == grown.tolist()[0]


def test_texts_in_the_install_time_seed_are_never_encoded_and_the_seed_is_never_written(tmp_path: Path) -> None:
    encoder = Counting()
    seed_dir, cache_dir = tmp_path / "seed", tmp_path / "cache"
    seeded = EmbeddingCache(seed_dir, "counting").encode(["alpha", "beta"], encoder)
    seed_file = seed_dir / "embeddings-counting.npy"
    seed_bytes = seed_file.read_bytes()

    cache = EmbeddingCache(cache_dir, "counting", seed_dir=seed_dir)
    first = cache.encode(["beta", "alpha"], encoder)  # a first start: all in the seed, nothing encoded or written
    assert encoder.encoded == ["alpha", "beta"] and first.tolist() == seeded[[1, 0]].tolist()
    assert not cache_dir.exists()
    grown = cache.encode(["gamma", "alpha"], encoder)  # an entry added since: only it is encoded, into the cache
    assert encoder.encoded == ["alpha", "beta", "gamma"] and grown[1].tolist() == seeded[0].tolist()
    assert seed_file.read_bytes() == seed_bytes
    restarted = EmbeddingCache(cache_dir, "counting", seed_dir=seed_dir).encode(["gamma", "beta"], encoder)
    assert encoder.encoded == ["alpha", "beta", "gamma"] and restarted[0].tolist() == grown[0].tolist()
    # Another model's cache does not read this seed (the file is named by model).
    EmbeddingCache(cache_dir, "other", seed_dir=seed_dir).encode(["alpha"], encoder)
    assert encoder.encoded[-1] == "alpha"


def test_the_seed_of_the_bundled_pack_covers_what_a_first_start_encodes(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.core.answering.knowledge import KnowledgeService
    from knowledge import seed
    from knowledge.loader import BUNDLED_DOCS

    path, encoded, _ = seed.build(tmp_path / "seed")
    assert encoded > 1000 and path.stat().st_mode & 0o777 == 0o644  # readable by a serving user who did not build it
    cache = EmbeddingCache(tmp_path / "cache", embedder.name, seed_dir=tmp_path / "seed")
    service = KnowledgeService([BUNDLED_DOCS], embedder, cache)
    service.reload()
    assert cache.misses == 0 and not (tmp_path / "cache").exists()


def test_an_unreadable_embedding_cache_is_ignored_and_rewritten(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "embeddings-counting.npy").write_bytes(b"not numpy at all")
    encoder = Counting()
    assert EmbeddingCache(tmp_path, "counting").encode(["alpha"], encoder).shape == (1, 4)
    assert encoder.encoded == ["alpha"] and "ignoring unreadable embedding cache" in caplog.text
    EmbeddingCache(tmp_path, "counting").encode(["alpha"], encoder)
    assert encoder.encoded == ["alpha"]  # the rewritten file is read back


def test_nowhere_to_export_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("folders cannot be made under a file")
    monkeypatch.setattr(sys, "prefix", str(blocked))
    with pytest.raises(onnx_model.ExportError, match=r"could not export .*a-file/share/torchtutor.*not writable; "
                                                     r".*a-file/cache/models.*not writable"):
        onnx_model.ensure(blocked / "cache")
