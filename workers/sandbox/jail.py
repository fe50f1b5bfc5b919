"""A bubblewrap jail for one learner's snippet, with every limit enforced from outside it.

Layers, outermost first (`launcher`): a shell that joins a memory cgroup where one can be made and, when the
worker is root, stages the Python folders in a private mount namespace and drops to an unprivileged uid of its
own (`setpriv`); then `prlimit` sets CPU time, processes, open files, file size and (CPU-only runs) address
space; then `bwrap` builds fresh user, PID, IPC, UTS, cgroup and network namespaces around a root holding only
the Python environment and `/usr` (read-only), size-capped tmpfs home and `/tmp`, and the snippet. This process
watches the wall clock and reads the output with a cap; past either, it kills the jail. Code never runs when
bubblewrap is missing or fails the self-test (`SandboxUnavailable`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from workers.sandbox.cgroup import MemoryCgroup

log = logging.getLogger(__name__)

UID_BASE = 2_000_000_000  # + the worker's pid: a uid no account has, one per concurrent run on a machine
HOME, TMP, SANDBOX = "/home/sandbox", "/tmp", "/sandbox"
# Where the launcher stages the Python folders, in its private mount namespace only (a fresh tmpfs covers it):
# the first of these that exists and holds none of the folders, since covering it would hide them.
STAGE_CANDIDATES = ("/tmp", "/mnt", "/media", "/srv", "/opt")
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
REPORT_LIMIT = 12 * 1024 * 1024  # the bootstrap's JSON, figures included
KILL_WAIT_S = 5.0
PIPE_LIMIT = 1024 * 1024  # Linux's default most for one pipe's buffer (fs.pipe-max-size)

OK, ERROR, TIMED_OUT, CPU_LIMIT, MEMORY_LIMIT, OUTPUT_LIMIT, KILLED = (
    "ok", "error", "timed_out", "cpu_limit", "memory_limit", "output_limit", "killed")
OUTCOMES = (OK, ERROR, TIMED_OUT, CPU_LIMIT, MEMORY_LIMIT, OUTPUT_LIMIT, KILLED)
MiB = 1024 * 1024


class SandboxUnavailable(Exception):
    """The jail cannot be built here, so nothing runs; `reason` is one line for people."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Limits:
    """What one run may use; every one is enforced outside the jail."""

    wall_s: float = 10.0
    cpu_s: int = 10
    processes: int = 64  # threads count too: torch starts a few
    open_files: int = 256
    file_bytes: int = 16 * MiB
    memory_bytes: int = 2048 * MiB
    tmp_bytes: int = 64 * MiB  # each of /tmp and the home folder
    output_bytes: int = 1 * MiB  # stdout and stderr together
    threads: int = 2
    gpu_memory_fraction: float = 0.5


@dataclass(frozen=True)
class GpuBinding:
    """The one GPU a worker owns: its device node's minor number, the minors of the GPUs it must not see (by
    PCI bus id, hidden in the jail's /proc), and the driver's library folders to bind read-only."""

    minor: int
    hidden_bus_ids: tuple[str, ...] = ()
    driver_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SnippetResult:
    """How a run ended, what it printed and drew, and one line saying why it stopped when it did not finish."""

    outcome: str
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    images: tuple[bytes, ...] = ()
    seconds: float = 0.0
    reason: str = ""
    exit_status: int | None = None
    truncated: bool = False


@dataclass
class _Run:
    """The parent's side of one jail while it runs."""

    process: subprocess.Popen[bytes]
    report_fd: int
    started: float
    output: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})
    report: bytearray = field(default_factory=bytearray)
    stopped_for: str | None = None


def sandbox_uid() -> int | None:
    """The uid a run gets: a fresh one when this worker is root, else None (bubblewrap runs as the worker)."""
    return UID_BASE + os.getpid() if os.geteuid() == 0 else None


def python_paths() -> tuple[str, str, tuple[str, ...]]:
    """(the jail's interpreter, its prefix, folders to bind read-only): this worker's environment, resolved."""
    prefix = os.path.realpath(sys.prefix)
    base = os.path.realpath(sys.base_prefix)
    python = os.path.join(prefix, "bin", "python3")
    if not os.path.exists(python):
        python = os.path.join(prefix, "bin", "python")
    binds = [path for path in dict.fromkeys((prefix, base)) if not path.startswith("/usr/")]
    return python, prefix, tuple(binds)


def bwrap_args(*, python: str, binds: tuple[tuple[str, str], ...], limits: Limits, code_fd: int, bootstrap_fd: int,
               report_fd: int, gpu: GpuBinding | None = None, bwrap: str = "bwrap") -> list[str]:
    """The bubblewrap command line: nothing of the host but what a snippet needs, all of it read-only."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = os.readlink(f"/{link}") if os.path.islink(f"/{link}") else None
        if target is not None:
            args += ["--symlink", target, f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in ("/etc/ld.so.cache", "/etc/fonts"):  # the loader's cache; fontconfig for matplotlib's text
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmp_bytes), "--tmpfs", TMP,
             "--size", str(limits.tmp_bytes), "--tmpfs", HOME,
             "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    for source, path in binds:  # after the tmpfs mounts, so a Python environment under /tmp stays visible
        args += ["--ro-bind", source, path]
    args += ["--dir", SANDBOX,
             "--perms", "0444", "--ro-bind-data", str(code_fd), f"{SANDBOX}/snippet.py",
             "--perms", "0444", "--ro-bind-data", str(bootstrap_fd), f"{SANDBOX}/bootstrap.py"]
    env = {"HOME": HOME, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": TMP,
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib", "TT_REPORT_FD": str(report_fd),
           "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads),
           "PYTHONIOENCODING": "utf-8"}
    if gpu is not None:
        args += gpu_args(gpu)
        env["TT_GPU_MEMORY_FRACTION"] = f"{limits.gpu_memory_fraction:g}"
        if gpu.driver_dirs:
            env["LD_LIBRARY_PATH"] = ":".join(gpu.driver_dirs)
    for key, value in env.items():
        args += ["--setenv", key, value]  # never empty: bwrap would take the next argument as the value
    # bwrap's /dev is a tmpfs with no size cap: read-only it stays (its device nodes still work)
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", HOME, "--",
             python, "-I", "-B", f"{SANDBOX}/bootstrap.py"]
    return args


def launcher(jail: list[str], *, uid: int | None, paths: tuple[str, ...], cgroup_procs: str | None) -> list[str]:
    """What the worker starts: as root, a private mount namespace where the Python folders are staged somewhere
    the sandbox uid can reach (they may sit under a private folder such as /root), the cgroup joined, then the
    jail as that uid with no groups and no capabilities; as anyone else, the cgroup joined and the jail."""
    steps = ["set -e"]
    if uid is not None:
        stage = stage_dir(paths)
        steps.append(f"mount -t tmpfs -o mode=0755,size=64k torchtutor-stage {stage}")
        for n, path in enumerate(paths):
            steps.append(f"mkdir {stage}/{n} && mount --bind {shlex.quote(path)} {stage}/{n}")
    if cgroup_procs is not None:
        steps.append(f"echo $$ > {shlex.quote(cgroup_procs)}")
    drop = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"] if uid is not None else []
    jail = ["setpriv", *drop, "--pdeathsig", "KILL", *jail]  # a worker killed mid-run takes its jail along
    steps.append("exec " + shlex.join(jail))
    script = ["/bin/sh", "-c", "\n".join(steps)]
    return ["unshare", "--mount", "--propagation", "private", "--", *script] if uid is not None else script


def stage_dir(paths: tuple[str, ...]) -> str:
    """The staging folder for `paths`: one that a tmpfs may cover without hiding any of them."""
    for candidate in STAGE_CANDIDATES:
        inside = any(path == candidate or path.startswith(candidate.rstrip("/") + "/") for path in paths)
        if os.path.isdir(candidate) and not inside:
            return candidate
    raise SandboxUnavailable(f"no folder to stage the Python environment in (tried {', '.join(STAGE_CANDIDATES)})")


def gpu_args(gpu: GpuBinding) -> list[str]:
    """Only this worker's GPU node, the control and unified-memory nodes, and the driver's libraries."""
    args: list[str] = []
    for node in (f"/dev/nvidia{gpu.minor}", "/dev/nvidiactl", "/dev/nvidia-uvm"):
        args += ["--dev-bind", node, node]
    for path in gpu.driver_dirs:
        if not path.startswith("/usr/"):
            args += ["--ro-bind", path, path]
    for bus_id in gpu.hidden_bus_ids:  # the driver lists GPUs from here too
        args += ["--tmpfs", f"/proc/driver/nvidia/gpus/{bus_id}"]
    return args


def limit_args(limits: Limits, *, address_space: bool, base_processes: int = 0) -> list[str]:
    """`prlimit` options: hard limits the snippet cannot raise. Address space only without a GPU (CUDA reserves
    far more virtual memory than it uses); `base_processes`: tasks the uid already runs (unprivileged workers)."""
    cpu = max(1, int(limits.cpu_s))
    args = ["prlimit", f"--cpu={cpu}:{cpu + 1}", f"--nproc={base_processes + limits.processes}",
            f"--nofile={limits.open_files}", f"--fsize={limits.file_bytes}", "--core=0"]
    if address_space:
        args.append(f"--as={limits.memory_bytes}")
    return args


class Jail:
    """Runs snippets, each in a fresh jail; `check()` refuses (SandboxUnavailable) when the jail cannot work."""

    def __init__(self, limits: Limits | None = None, *, gpu: GpuBinding | None = None, bwrap: str | None = None,
                 use_cgroup: bool = True, address_space: bool | None = None) -> None:
        self.limits = limits or Limits()
        self.address_space = gpu is None if address_space is None else address_space
        self.gpu = gpu
        self.bwrap = bwrap or shutil.which("bwrap") or ""
        self.use_cgroup = use_cgroup
        self._checked: str | None = None

    @property
    def memory_cgroups(self) -> bool:
        """Whether runs here get a memory cgroup (else only RLIMIT_AS bounds their memory)."""
        probe = MemoryCgroup.create(self.limits.memory_bytes) if self.use_cgroup else None
        if probe is not None:
            probe.remove()
        return probe is not None

    def check(self) -> None:
        """The start-up self-test, once per jail object: the tools exist and a probe sees what it should."""
        if self._checked == "ok":
            return
        if not self.bwrap or not os.access(self.bwrap, os.X_OK):
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed on this worker, so /run is switched off")
        if shutil.which("prlimit") is None:
            raise SandboxUnavailable("prlimit (util-linux) is missing on this worker, so /run is switched off")
        result = self._run(PROBE, PROBE_LIMITS)
        problem = probe_problem(result)
        if problem:
            raise SandboxUnavailable(f"the sandbox failed its self-test ({problem}), so /run is switched off")
        self._checked = "ok"

    def run(self, code: str) -> SnippetResult:
        """Run `code` in a fresh jail (after the self-test) and say how it ended."""
        self.check()
        return self._run(code, self.limits)

    def _run(self, code: str, limits: Limits) -> SnippetResult:
        uid = sandbox_uid()
        cgroup = MemoryCgroup.create(limits.memory_bytes) if self.use_cgroup else None
        python, _, paths = python_paths()
        code_r, code_w = os.pipe()
        boot_r, boot_w = os.pipe()
        report_r, report_w = os.pipe()
        try:
            _fill(code_w, code.encode("utf-8"))
            _fill(boot_w, BOOTSTRAP.read_bytes())
            base = 0 if uid is not None else _tasks_of(os.getuid())
            sources = paths if uid is None else tuple(f"{stage_dir(paths)}/{n}" for n in range(len(paths)))
            jail = limit_args(limits, address_space=self.address_space, base_processes=base) + bwrap_args(
                python=python, binds=tuple(zip(sources, paths, strict=True)), limits=limits, code_fd=code_r,
                bootstrap_fd=boot_r, report_fd=report_w, gpu=self.gpu, bwrap=self.bwrap)
            command = launcher(jail, uid=uid, paths=paths, cgroup_procs=cgroup.procs if cgroup else None)
            try:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    pass_fds=(code_r, boot_r, report_w), close_fds=True, start_new_session=True, env=_host_env(),
                    cwd="/")
            except OSError as exc:
                raise SandboxUnavailable(f"the sandbox could not start ({exc.strerror or exc})") from None
        finally:
            for fd in (code_r, code_w, boot_r, boot_w, report_w):
                os.close(fd)
        run = _Run(process, report_r, time.monotonic())
        try:
            self._watch(run, limits)
        finally:
            os.close(report_r)
            _stop(run.process)
            if uid is not None:
                _wait_for_no_tasks(uid)
            oom = cgroup.out_of_memory() if cgroup is not None else False
            if cgroup is not None:
                cgroup.remove()
        return _result(run, limits, oom=oom)

    def _watch(self, run: _Run, limits: Limits) -> None:
        """Read output, the report and the clock until the jail exits or breaks a limit."""
        selector = selectors.DefaultSelector()
        assert run.process.stdout is not None and run.process.stderr is not None
        selector.register(run.process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(run.process.stderr, selectors.EVENT_READ, "stderr")
        selector.register(run.report_fd, selectors.EVENT_READ, "report")
        deadline = run.started + limits.wall_s
        open_streams = 3
        try:
            while open_streams:
                left = deadline - time.monotonic()
                if left <= 0:
                    run.stopped_for = TIMED_OUT
                    return
                for key, _ in selector.select(min(left, 0.5)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                        continue
                    if key.data == "report":
                        run.report += chunk
                        if len(run.report) > REPORT_LIMIT:
                            run.stopped_for = OUTPUT_LIMIT
                            return
                        continue
                    run.output[key.data] += chunk
                    if sum(len(buffer) for buffer in run.output.values()) > limits.output_bytes:
                        run.stopped_for = OUTPUT_LIMIT
                        return
            try:
                run.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.stopped_for = TIMED_OUT
        finally:
            selector.close()


def probe_problem(result: SnippetResult) -> str | None:
    """What the self-test probe's result says is wrong, or None."""
    if result.outcome != OK:
        detail = (result.error or result.stderr.strip().splitlines()[-1:] or [result.reason])
        return f"the probe did not run: {detail[-1] if isinstance(detail, list) else detail}"[:200]
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if seen.get("uid") != "65534":
        return f"the probe ran as uid {seen.get('uid')}"
    if seen.get("network") != "none":
        return "the probe could reach the network"
    if seen.get("home") != "writable":
        return "the probe could not write to its home"
    if seen.get("root") != "read-only":
        return "the probe could write outside its home and /tmp"
    return None


PROBE = """
import os, socket
print("uid=%d" % os.getuid())
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()
    print("network=open")
except OSError:
    print("network=none")
try:
    open(os.path.expanduser("~/probe"), "w").write("x")
    print("home=writable")
except OSError:
    print("home=read-only")
try:
    open("/probe", "w").write("x")
    print("root=writable")
except OSError:
    print("root=read-only")
"""
PROBE_LIMITS = Limits(wall_s=30.0, cpu_s=10)


def _result(run: _Run, limits: Limits, *, oom: bool) -> SnippetResult:
    seconds = time.monotonic() - run.started
    stdout = run.output["stdout"].decode("utf-8", errors="replace")
    stderr = run.output["stderr"].decode("utf-8", errors="replace")
    status = run.process.returncode
    report: dict[str, object] = {}
    if run.stopped_for is None and run.report:
        try:  # the first document: anything after it was written by the snippet, not the bootstrap
            report, _ = json.JSONDecoder().raw_decode(run.report.decode("utf-8", errors="replace"))
        except ValueError:
            report = {}
        report = report if isinstance(report, dict) else {}
    common = SnippetResult(KILLED, stdout=stdout, stderr=stderr, seconds=seconds, exit_status=status)
    if run.stopped_for == TIMED_OUT:
        return replace(common, outcome=TIMED_OUT,
                       reason=f"it ran longer than its {limits.wall_s:g} s time limit, so it was stopped")
    if run.stopped_for == OUTPUT_LIMIT:
        return replace(common, outcome=OUTPUT_LIMIT, truncated=True,
                       reason=f"it printed more than {_size(limits.output_bytes)}, so it was stopped")
    if report.get("done"):
        found = report.get("images")
        images = tuple(_png(item) for item in (found if isinstance(found, list) else []) if isinstance(item, str))
        error = report.get("error")
        if error:
            return replace(common, outcome=ERROR, error=str(error)[:500], images=images, reason=str(error)[:500])
        return replace(common, outcome=OK, images=images)
    if oom:
        return replace(common, outcome=MEMORY_LIMIT,
                       reason=f"it used more than its {_size(limits.memory_bytes)} of memory, so it was stopped")
    if status is not None and status in (128 + signal.SIGXCPU, -signal.SIGXCPU, 128 + signal.SIGKILL):
        return replace(common, outcome=CPU_LIMIT,
                       reason=f"it used more than its {limits.cpu_s:g} s of CPU time, so it was stopped")
    return replace(common, outcome=KILLED, reason=f"it stopped without finishing (exit status {status})")


def _png(item: str) -> bytes:
    import base64

    return base64.b64decode(item)


def _size(count: int) -> str:
    return f"{count // MiB} MB" if count >= MiB else f"{count // 1024} KB"


def _fill(fd: int, data: bytes) -> None:
    """Write all of `data` into a fresh pipe whose buffer holds it (so this never blocks): bubblewrap copies it
    into the jail at start."""
    if len(data) > PIPE_LIMIT:
        raise SandboxUnavailable(f"the snippet is longer than {PIPE_LIMIT} bytes")
    if len(data) >= 65536:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, len(data) + 1)
    os.write(fd, data)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the jail if it still runs: bwrap's children die with it (--die-with-parent), and its PID namespace
    with them."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        log.error("the jail of pid %d did not die when killed", process.pid)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _host_env() -> dict[str, str]:
    """The environment of the tools that build the jail (the snippet's own is set with --setenv)."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _wait_for_no_tasks(uid: int, timeout: float = 15.0) -> None:
    """Until nothing of the run's uid is alive: a killed PID namespace is torn down by the kernel after its init
    dies, and the next run on this worker must not meet the last one's processes. (Zombies are left to the
    machine's init, which reaps orphans in its own time; they run nothing.)"""
    deadline = time.monotonic() + timeout
    while _tasks_of(uid, live_only=True) and time.monotonic() < deadline:
        time.sleep(0.02)


def _tasks_of(uid: int, *, live_only: bool = False) -> int:
    """Tasks (processes and threads) `uid` has now, zombies too unless `live_only`: RLIMIT_NPROC counts them all."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            if live_only and _state(entry.name) in ("Z", "X"):
                continue
            count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def _state(pid: str) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]
