"""GPU workers: counting GPUs never initialises CUDA, and (on CUDA machines) each worker process owns one GPU."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO
from tests.jobs_support import CeleryWorker, claimed_redis_url, collect, insert_job, migrated_database
from workers.events import watch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_counting_gpus_leaves_cuda_uninitialised_so_the_process_may_fork() -> None:
    script = ("import os, torch\n"
              "from workers.device import visible_gpus\n"
              "gpus = visible_gpus()\n"
              "assert not torch.cuda.is_initialized(), 'counting GPUs initialised CUDA'\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    os._exit(0 if not gpus or torch.cuda.device_count() == len(gpus) else 3)\n"
              "assert os.waitpid(pid, 0)[1] == 0\n"
              "print(len(gpus))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == torch.cuda.device_count()


def test_without_a_gpu_driver_counting_gpus_imports_no_torch() -> None:
    from workers.device import gpu_driver_present

    if gpu_driver_present():
        pytest.skip("this machine has a GPU driver")
    script = "import sys; from workers.device import visible_gpus; print(visible_gpus(), 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"]


@needs_cuda
def test_the_local_pool_runs_one_process_per_gpu_each_on_its_own_gpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from workers.local import LocalBackend

    database = migrated_database(f"sqlite:///{tmp_path}/gpu.db")
    pool = LocalBackend(database)
    pool.start()
    try:
        assert pool.wait_ready(180)
        assert len(pool.processes) == torch.cuda.device_count()
        spec = insert_job(pool.store, "gpu-speedup", {"sizes": [256, 512]})
        pool.submit(spec)
        result = asyncio.run(collect(watch(spec.job_id, pool.store, pool.bus), 120))[-1].result
        assert result is not None and result.status == "succeeded" and result.device == "cuda"
        assert result.metrics["gpu_ms"] is not None
    finally:
        pool.stop()
        database.dispose()


@needs_cuda
@pytest.mark.redis
def test_a_celery_gpu_worker_initialises_cuda_only_in_its_pool_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from workers.celery_app import CeleryBackend

    url = f"sqlite:///{tmp_path}/gpu.db"
    database = migrated_database(url)
    with claimed_redis_url() as queue_url:
        worker = CeleryWorker(database_url=url, queue_url=queue_url, log_path=tmp_path / "worker.log",
                              concurrency=1, queues="gpu").start(timeout=180)
        backend = CeleryBackend(database, broker_url=queue_url)
        try:
            spec = insert_job(backend.store, "gpu-speedup", {"sizes": [256]}, backend="celery")
            backend.submit(spec)
            result = asyncio.run(collect(watch(spec.job_id, backend.store, backend.bus), 120))[-1].result
            assert result is not None and result.status == "succeeded" and result.device == "cuda"
        finally:
            backend.stop()
            worker.stop()
            database.dispose()
