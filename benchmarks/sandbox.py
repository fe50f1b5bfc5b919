"""What the /run jail costs: the same snippets run by a plain `python` subprocess and in the jail.

    .venv/bin/python benchmarks/sandbox.py [--runs 5]

For each snippet (an empty one, one that imports torch and runs a backward pass), the median wall time of
`--runs` runs both ways, and their ratio. Numbers are printed, never asserted. Needs bubblewrap.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workers.sandbox import Jail, Limits  # noqa: E402

SNIPPETS = {
    "print": "print('hi')",
    "torch backward": "import torch; x = torch.randn(3, 3, requires_grad=True); (x ** 2).sum().backward(); "
                      "print(x.grad)",
}


def plain(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-B", "-c", code], check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def jailed(jail: Jail, code: str) -> float:
    started = time.perf_counter()
    result = jail.run(code)
    if result.outcome != "ok":
        raise SystemExit(f"the jail did not run {code!r}: {result.reason or result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    jail = Jail(Limits(wall_s=120.0, cpu_s=120))
    started = time.perf_counter()
    jail.check()
    print(f"self-test: {time.perf_counter() - started:.2f} s (once per worker process)")
    for name, code in SNIPPETS.items():
        plain_s = statistics.median(plain(code) for _ in range(args.runs))
        jail_s = statistics.median(jailed(jail, code) for _ in range(args.runs))
        print(f"{name:>15}: plain {plain_s:.3f} s, jail {jail_s:.3f} s, ratio {jail_s / plain_s:.2f}, "
              f"overhead {jail_s - plain_s:+.3f} s (median of {args.runs})")


if __name__ == "__main__":
    main()
