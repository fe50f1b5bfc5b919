"""Benchmark of the ask path: starts `torchtutor serve` and prints latency, throughput, cache and index figures.

    .venv/bin/python benchmarks/ask.py [--quick] [--json]

Printed beside the bare model figures measured in the same run (goals from issue 4 in brackets):
- bare encode of one question (p50) and batched encode throughput (batches of 64);
- single-question HTTP latency p50/p99, one client, distinct questions [p50 <= 1.5x bare encode];
- throughput with 64 concurrent clients sending distinct questions [>= 0.6x batched encode, p99 < 300 ms,
  no errors];
- a repeated question: server time from `Server-Timing` [< 1 ms];
- index search time and memory at 10k and 100k synthetic entries (exact search).
Figures are printed, never asserted; on a shared machine, run it twice and compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `torchtutor serve` has it; the server inherits it too

TOPICS = ["tensors", "autograd", "a DataLoader", "mixed precision", "a CUDA device", "an optimizer", "nn.Module",
          "torch.compile", "gradient clipping", "a learning-rate scheduler", "a custom Dataset", "model.eval()",
          "broadcasting", "view and reshape", "state_dict", "a training loop", "weight decay", "hooks",
          "pin_memory", "num_workers", "detach()", "requires_grad", "CrossEntropyLoss", "einsum", "checkpoints"]
FORMS = ["How do I use {t} in PyTorch?", "What is {t} for?", "Why does {t} behave like this in my model?",
         "When should I avoid {t}?", "Can you explain {t} with an example?", "What are common mistakes with {t}?",
         "Is {t} slow on a GPU?", "How does {t} interact with autograd?", "What changed about {t} recently?",
         "Give me a short summary of {t}.", "How can I debug problems with {t}?", "Do I need {t} for inference?"]


def questions(n: int, salt: str = "") -> list[str]:
    """n distinct questions."""
    base = [form.format(t=topic) for form in FORMS for topic in TOPICS]
    out = []
    for i in range(n):
        suffix = f" (case {i // len(base)}{salt})" if i >= len(base) or salt else ""
        out.append(base[i % len(base)] + suffix)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def batched_rate(embedder: object, salt: str) -> float:
    """Questions per second of the bare model encoding distinct questions in batches of 64."""
    batch = questions(256, salt)
    started = time.perf_counter()
    for i in range(0, len(batch), 64):
        embedder.encode(batch[i : i + 64])  # type: ignore[attr-defined]
    return len(batch) / (time.perf_counter() - started)


def bare_encode() -> dict[str, float]:
    from knowledge.embedder import get_embedder

    embedder = get_embedder()
    embedder.load()
    embedder.encode(questions(8, "warm"))
    singles = []
    for text in questions(40, "single"):
        started = time.perf_counter()
        embedder.encode([text])
        singles.append((time.perf_counter() - started) * 1000)
    return {"encode_one_p50_ms": pct(singles, 50), "encode_batched_per_s": batched_rate(embedder, "batch")}


class Connection:
    """A minimal keep-alive HTTP/1.1 client, so the load generator costs little CPU beside the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def timing(headers: dict[str, str], name: str) -> float | None:
    match = re.search(rf"{name};dur=([0-9.]+)", headers.get("server-timing", ""))
    return float(match.group(1)) if match else None


async def single_client(port: int, texts: list[str], embedder: object = None) -> dict[str, float]:
    """One client, one question at a time; with an embedder, a bare encode of another question between requests,
    so the two are compared under the same machine load."""
    connection = Connection("127.0.0.1", port)
    latencies, answer_ms, app_ms, bare_ms = [], [], [], []
    for text in texts:
        if embedder is not None:
            started = time.perf_counter()
            embedder.encode([text + " (bare)"])  # type: ignore[attr-defined]
            bare_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        status, headers, _ = await connection.post("/api/v1/ask", {"question": text})
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
        answer_ms.append(timing(headers, "answer") or float("nan"))
        app_ms.append(timing(headers, "app") or float("nan"))
    connection.close()
    return {"p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "requests": len(texts),
            "server_answer_p50_ms": pct(answer_ms, 50), "server_app_p50_ms": pct(app_ms, 50),
            "bare_encode_p50_ms": pct(bare_ms, 50)}


async def concurrent_clients(port: int, texts: list[str], clients: int) -> dict[str, float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        connection = Connection("127.0.0.1", port)
        while True:
            try:
                text = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            started = time.perf_counter()
            try:
                status, _, body = await connection.post("/api/v1/ask", {"question": text})
                if status != 200 or b'"status"' not in body:
                    errors += 1
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                connection.close()
                connection = Connection("127.0.0.1", port)
            latencies.append((time.perf_counter() - started) * 1000)
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"requests": len(texts), "per_s": len(texts) / elapsed, "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99), "errors": errors}


async def cached(port: int, text: str, repeats: int) -> dict[str, float]:
    connection = Connection("127.0.0.1", port)
    await connection.post("/api/v1/ask", {"question": text})
    answer_ms, app_ms = [], []
    for _ in range(repeats):
        _, headers, _ = await connection.post("/api/v1/ask", {"question": text})
        assert 'desc="cache hit"' in headers.get("server-timing", ""), headers
        answer_ms.append(timing(headers, "answer") or float("nan"))
        app_ms.append(timing(headers, "app") or float("nan"))
    connection.close()
    return {"answer_p50_ms": pct(answer_ms, 50), "answer_p99_ms": pct(answer_ms, 99),
            "app_p50_ms": pct(app_ms, 50), "app_p99_ms": pct(app_ms, 99)}


def serve(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    from bot.db.migrate import upgrade
    from tests.helpers import free_port, wait_until

    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TORCHTUTOR_DATABASE_URL": url,
           "TORCHTUTOR_CACHE_DIR": str(tmp / "cache"), "TORCHTUTOR_ENVIRONMENT": "test"}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def healthy() -> bool:
        import httpx

        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=180, interval=0.2, what="torchtutor serve")
    return process, port


def index_scale(sizes: list[int], texts_per_entry: int = 4, queries: int = 30) -> list[dict[str, float]]:
    """Search time and memory of a synthetic index: random unit vectors, random words for BM25."""
    from knowledge.entries import Entry
    from knowledge.index import KnowledgeIndex

    rng = np.random.default_rng(0)
    vocabulary = [f"term{i}" for i in range(20_000)]
    results = []
    for size in sizes:
        vectors = rng.normal(size=(size * texts_per_entry, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        entries = [Entry(id=f"e{i}", question=f"q{i}", answer="") for i in range(size)]
        words = rng.integers(0, len(vocabulary), size=(size, 40))
        question_terms = [[vocabulary[w] for w in row[:10]] for row in words]
        answer_terms = [[vocabulary[w] for w in row] for row in words]
        started = time.perf_counter()
        index = KnowledgeIndex(entries, vectors, np.arange(size) * texts_per_entry, question_terms, answer_terms)
        build_s = time.perf_counter() - started
        times = []
        for _ in range(queries):
            query = vectors[rng.integers(0, len(vectors))]
            text = " ".join(vocabulary[w] for w in rng.integers(0, len(vocabulary), size=6))
            started = time.perf_counter()
            index.search(query, top_k=6, text=text)
            times.append((time.perf_counter() - started) * 1000)
        results.append({"entries": size, "rows": size * texts_per_entry, "search_p50_ms": pct(times, 50),
                        "search_p99_ms": pct(times, 99), "memory_mb": index.nbytes / 2**20, "build_s": build_s})
        del index, vectors
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, 10k entries only")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    n_single, n_load = (40, 256) if args.quick else (100, 640)

    figures: dict[str, object] = {"bare": bare_encode()}
    with tempfile.TemporaryDirectory() as tmp:
        process, port = serve(Path(tmp))
        try:
            asyncio.run(single_client(port, questions(8, "warm-up")))
            from knowledge.embedder import get_embedder

            embedder = get_embedder()
            figures["single"] = asyncio.run(single_client(port, questions(n_single, "one"), embedder))
            before = batched_rate(embedder, "before-load")
            figures["concurrent_64"] = asyncio.run(concurrent_clients(port, questions(n_load, "load"), 64))
            after = batched_rate(embedder, "after-load")
            figures["concurrent_64"]["bare_batched_per_s"] = (before + after) / 2  # type: ignore[index]
            figures["cached"] = asyncio.run(cached(port, "How do I move a tensor to the GPU?", 200))
        finally:
            process.terminate()
            process.wait(timeout=30)
    figures["bare_after"] = bare_encode()  # the machine may be shared: a second look shows how steady it was
    figures["index"] = index_scale([10_000] if args.quick else [10_000, 100_000])
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    return 0


def report(f: dict) -> None:  # type: ignore[type-arg]
    bare, after, single, load, hit = f["bare"], f["bare_after"], f["single"], f["concurrent_64"], f["cached"]
    one, batched = bare["encode_one_p50_ms"], bare["encode_batched_per_s"]
    print(f"bare model: encode one question p50 {one:.1f} ms; batched encode {batched:.0f} questions/s "
          f"(after the HTTP runs: {after['encode_one_p50_ms']:.1f} ms, {after['encode_batched_per_s']:.0f}/s)")
    beside = single["bare_encode_p50_ms"]
    print(f"single client ({single['requests']} distinct): p50 {single['p50_ms']:.1f} ms "
          f"({single['p50_ms'] / beside:.2f}x the bare encode of {beside:.1f} ms measured between its requests; "
          f"goal <= 1.5x), p99 {single['p99_ms']:.1f} ms; server: "
          f"answer {single['server_answer_p50_ms']:.1f} ms, whole app {single['server_app_p50_ms']:.1f} ms (p50)")
    rate = load["bare_batched_per_s"]
    print(f"64 concurrent clients ({load['requests']} distinct): {load['per_s']:.0f} questions/s "
          f"({load['per_s'] / rate:.2f}x the batched encode of {rate:.0f}/s measured just before and after; "
          f"goal >= 0.6x), p50 {load['p50_ms']:.0f} ms, "
          f"p99 {load['p99_ms']:.0f} ms (goal < 300), errors {load['errors']}")
    print(f"repeated question (cache): answer {hit['answer_p50_ms']:.3f} ms p50 / {hit['answer_p99_ms']:.3f} ms p99; "
          f"whole app {hit['app_p50_ms']:.3f} ms p50 / {hit['app_p99_ms']:.3f} ms p99 (goal < 1 ms)")
    for row in f["index"]:
        print(f"index {row['entries']:>7,} entries ({row['rows']:,} vectors): search p50 {row['search_p50_ms']:.1f} ms,"
              f" p99 {row['search_p99_ms']:.1f} ms; {row['memory_mb']:.0f} MiB; built in {row['build_s']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
