"""The snippet jail, attacked for real: each snippet runs in bubblewrap here, and each attack must be refused with
the worker left unharmed."""

from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import in_ci, require_redis
from workers.sandbox.jail import (
    CPU_LIMIT,
    ERROR,
    MEMORY_LIMIT,
    OK,
    OUTPUT_LIMIT,
    TIMED_OUT,
    GpuBinding,
    Jail,
    Limits,
    SandboxUnavailable,
    bwrap_args,
    launcher,
    limit_args,
    sandbox_uid,
)

PROJECT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def jail() -> Jail:
    if shutil.which("bwrap") is None:
        message = "bubblewrap is not installed (apt-get install bubblewrap)"
        if in_ci():
            pytest.fail(f"{message}; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip(message)
    made = Jail(Limits(wall_s=60.0, cpu_s=30))
    made.check()
    return made


def _sandbox_tasks() -> int:
    """Processes of this worker's sandbox uid still alive (zombies run nothing; the machine's init reaps them)."""
    uid = sandbox_uid()
    if uid is None:
        return 0
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    with open(f"/proc/{entry.name}/stat") as handle:
                        count += handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
            except OSError:
                pass
    return count


def _assert_unharmed(jail: Jail) -> None:
    assert subprocess.run(["true"], timeout=30).returncode == 0  # this process can still start processes
    assert _sandbox_tasks() == 0
    again = jail.run("print('still here')")
    assert (again.outcome, again.stdout) == (OK, "still here\n")


# --- what a learner wants ------------------------------------------------------------------------------------


def test_a_normal_snippet_prints_its_gradient(jail: Jail) -> None:
    result = jail.run("import torch; x = torch.randn(3, 3, requires_grad=True); (x ** 2).sum().backward(); "
                      "print(x.grad); print(torch.allclose(x.grad, 2 * x))")
    assert result.outcome == OK, result.stderr
    assert result.stdout.startswith("tensor([[") and result.stdout.rstrip().endswith("True")
    assert result.stdout.count("\n") == 4 and result.error is None


def test_an_open_matplotlib_figure_comes_back_as_a_png(jail: Jail) -> None:
    result = jail.run("import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 4])\nplt.title('squares')\n"
                      "plt.figure()\nplt.bar(['a', 'b'], [3, 1])\nprint('plotted')")
    assert result.outcome == OK, result.stderr
    assert result.stdout == "plotted\n"
    assert len(result.images) == 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in result.images)


def test_an_exception_reports_its_last_line_and_the_snippet_lines(jail: Jail) -> None:
    result = jail.run("print('before')\nx = 1\ny = x / 0\n")
    assert result.outcome == ERROR
    assert result.stdout == "before\n"
    assert result.error == "ZeroDivisionError: division by zero"
    assert 'File "<snippet>", line 3' in result.stderr and "y = x / 0" in result.stderr
    assert "bootstrap" not in result.stderr  # the jail's own frames are not the learner's business


def test_input_fails_at_once_with_a_clear_message(jail: Jail) -> None:
    result = jail.run("name = input('Your name? ')\nprint(name)")
    assert result.outcome == ERROR
    assert result.stdout == "Your name? "
    assert result.error is not None and "this runner has no keyboard" in result.error
    assert result.seconds < jail.limits.wall_s  # answered, not a hang until the time limit


def test_a_long_snippet_in_any_script_reaches_the_jail_whole(jail: Jail) -> None:
    code = "text = '" + "🔥" * 20_000 + "'\nprint(len(text), text[-1] == '🔥')"  # 80 kB of UTF-8
    result = jail.run(code)
    assert (result.outcome, result.stdout) == (OK, "20000 True\n"), result.stderr


# --- attacks -------------------------------------------------------------------------------------------------


def test_no_network_not_even_the_workers_redis(jail: Jail) -> None:
    redis_url = require_redis()
    result = jail.run("import socket\nfor host, port in (('127.0.0.1', 6379), ('1.1.1.1', 443), ('8.8.8.8', 53)):\n"
                      "    try:\n        socket.create_connection((host, port), timeout=3).close()\n"
                      "        print(host, 'open')\n    except OSError as exc:\n"
                      "        print(host, 'refused', exc.errno)\n"
                      "print(sorted(n for _, n in socket.if_nameindex()))")
    assert result.outcome == OK, result.stderr
    assert "open" not in result.stdout and result.stdout.count("refused") == 3
    assert "'lo'" in result.stdout and "eth" not in result.stdout  # a network namespace of its own
    with socket.create_connection(("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])), timeout=3):
        pass  # while the worker still reaches it


def test_host_secrets_are_not_in_the_jail(jail: Jail, tmp_path: Path) -> None:
    assert Path("/etc/shadow").exists()  # the host has one; the jail must not
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / ".env").write_text("TORCHTUTOR_DISCORD_TOKEN=s3cr3t-discord-token\n")
    (bot / "torchtutor.db").write_bytes(b"SQLite format 3\x00s3cr3t rows")
    targets = ["/etc/shadow", "/etc/passwd", str(bot / ".env"), str(bot / "torchtutor.db"), str(PROJECT / ".env"),
               str(PROJECT / "var" / "torchtutor.db"), str(PROJECT / "bot" / "config.py"), "/root/.bashrc"]
    code = f"import os\nfor path in {targets!r}:\n    try:\n" \
           "        print(path, 'LEAKED', open(path, 'rb').read()[:20])\n" \
           "    except OSError as exc:\n        print(path, 'denied', type(exc).__name__)\n" \
           f"print('project', sorted(os.listdir({str(PROJECT)!r})) if os.path.exists({str(PROJECT)!r}) else [])"
    result = jail.run(code)
    assert result.outcome == OK, result.stderr
    assert "LEAKED" not in result.stdout and "s3cr3t" not in result.stdout
    assert result.stdout.count("denied") == len(targets)
    project = next(line for line in result.stdout.splitlines() if line.startswith("project "))
    # Nothing of the project is there; only the way to its Python environment when that lives inside it (.venv).
    assert set(ast.literal_eval(project.removeprefix("project "))) <= leads_to_python(PROJECT)


def test_no_tokens_in_the_environment(jail: Jail, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTUTOR_DISCORD_TOKEN", "secret-discord-token")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    result = jail.run("import os\nprint(sorted(os.environ))\nprint(open('/proc/1/environ', 'rb').read())")
    assert "secret" not in result.stdout + result.stderr
    names = eval(result.stdout.splitlines()[0])  # noqa: S307 - a list literal printed by the snippet
    assert not [name for name in names if "TOKEN" in name or name.startswith(("TORCHTUTOR", "SLACK", "DISCORD"))]


def leads_to_python(folder: Path) -> set[str]:
    """Names in `folder` that the jail shows only as the way to the Python environment it binds at its own path."""
    names = set()
    for prefix in {Path(os.path.realpath(sys.prefix)), Path(os.path.realpath(sys.base_prefix))}:
        if folder in prefix.parents:
            names.add(prefix.relative_to(folder).parts[0])
    return names


def test_another_jobs_temp_files_are_gone(jail: Jail) -> None:
    first = jail.run("open('/tmp/other-job', 'w').write('secret')\nopen('/home/sandbox/notes', 'w').write('secret')\n"
                     "print('written')")
    assert first.stdout == "written\n"
    second = jail.run("import os\nprint(os.listdir('/tmp'))\nprint([n for n in os.listdir('.') if n != '.matplotlib'])")
    assert second.outcome == OK
    in_tmp, in_home = (ast.literal_eval(line) for line in second.stdout.splitlines())
    assert in_home == [] and "other-job" not in in_tmp and set(in_tmp) <= leads_to_python(Path("/tmp"))


def test_writing_outside_its_tmp_and_home_is_refused(jail: Jail) -> None:
    python = Path(os.path.realpath(sys.prefix))
    code = "for path in {!r}:\n    try:\n        open(path, 'w').write('x')\n        print(path, 'WROTE')\n" \
           "    except OSError as exc:\n        print(path, 'refused', exc.errno)".format(
               ["/evil", "/usr/evil", "/sandbox/snippet.py", f"{python}/evil", "/etc/evil", "/proc/evil"],)
    result = jail.run(code)
    assert result.outcome == OK, result.stderr
    assert "WROTE" not in result.stdout and result.stdout.count("refused") == 6
    assert not (python / "evil").exists() and not Path("/usr/evil").exists()


def test_a_big_file_or_a_full_tmp_is_refused(jail: Jail) -> None:
    result = jail.run("open('/tmp/big', 'wb').write(b'x' * (200 * 1024 * 1024))")
    assert result.outcome == ERROR and "File too large" in (result.error or "")
    for folder in ("/tmp", "/home/sandbox", "/dev/shm"):
        result = jail.run(f"for n in range(100):\n    open(f'{folder}/part{{n}}', 'wb').write(b'x' * 8 * 1024 ** 2)")
        assert result.outcome == ERROR and "No space left" in (result.error or ""), folder
    result = jail.run("open('/dev/part', 'wb').write(b'x')\n")
    assert result.outcome == ERROR and "Read-only file system" in (result.error or "")
    result = jail.run("open('/dev/null', 'wb').write(b'x' * 1000)\nprint('null works')")
    assert result.stdout == "null works\n"


def test_no_namespaces_of_its_own_inside(jail: Jail) -> None:
    result = jail.run("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                      "for name, flag in (('user', 0x10000000), ('mount', 0x00020000), ('net', 0x40000000)):\n"
                      "    print(name, libc.unshare(flag), ctypes.get_errno())")
    assert result.outcome == OK, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["-1", "-1", "-1"]


def test_a_fork_bomb_is_contained(jail: Jail) -> None:
    result = jail.run("import os\nwhile True:\n    os.fork()")
    assert result.outcome != OK
    assert "Resource temporarily unavailable" in result.stderr or result.outcome == TIMED_OUT
    _assert_unharmed(jail)


def test_eight_gigabytes_are_refused(jail: Jail) -> None:
    result = jail.run("import torch\nt = torch.ones(2 * 1024 ** 3)\nprint(t.sum())")
    assert result.outcome in (ERROR, MEMORY_LIMIT)
    assert result.stdout == ""
    assert "can't allocate memory" in (result.error or "") or result.outcome == MEMORY_LIMIT
    result = jail.run("b = bytearray(8 * 1024 ** 3)")
    assert result.outcome in (ERROR, MEMORY_LIMIT) and result.stdout == ""
    _assert_unharmed(jail)


def test_the_memory_cgroup_stops_what_address_space_limits_would_not() -> None:
    cgroup_jail = Jail(Limits(wall_s=60.0, cpu_s=30, memory_bytes=300 * MiB), address_space=False)
    if shutil.which("bwrap") is None or not cgroup_jail.memory_cgroups:
        pytest.skip("this machine gives no memory cgroup to its workers (GPU runs then have no memory cap)")
    result = cgroup_jail.run("b = bytearray(1024 ** 3)\nb[::4096] = b'x' * len(b[::4096])\nprint('filled')")
    assert result.outcome == MEMORY_LIMIT and result.stdout == ""
    assert "300 MB of memory" in result.reason


def test_an_endless_loop_is_stopped_at_its_wall_time() -> None:
    result = Jail(Limits(wall_s=3.0, cpu_s=60)).run("print('start', flush=True)\nwhile True: pass")
    assert result.outcome == TIMED_OUT and result.stdout == "start\n"
    assert "3 s time limit" in result.reason
    assert _sandbox_tasks() == 0


def test_an_endless_loop_is_stopped_at_its_cpu_time() -> None:
    result = Jail(Limits(wall_s=60.0, cpu_s=1)).run("while True: pass")
    assert result.outcome == CPU_LIMIT and "1 s of CPU time" in result.reason


def test_printing_a_hundred_megabytes_is_cut_at_the_cap(jail: Jail) -> None:
    result = jail.run("import sys\nfor _ in range(1600):\n    sys.stdout.write('x' * 65536)")
    assert result.outcome == OUTPUT_LIMIT and result.truncated
    assert len(result.stdout) + len(result.stderr) <= jail.limits.output_bytes + 65536
    assert "more than 1 MB" in result.reason
    _assert_unharmed(jail)


# --- refusing to run at all ----------------------------------------------------------------------------------


def test_without_bubblewrap_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    jail = Jail(bwrap=str(tmp_path / "no-bwrap"))
    with pytest.raises(SandboxUnavailable) as caught:
        jail.run(f"open({str(marker)!r}, 'w').write('x')")
    assert "bubblewrap (bwrap) is not installed" in caught.value.reason and "\n" not in caught.value.reason
    assert not marker.exists()


def test_a_bubblewrap_that_does_not_sandbox_fails_the_self_test(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"  # runs the command with no jail at all
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    fake.chmod(0o755)
    marker = tmp_path / "ran"
    with pytest.raises(SandboxUnavailable) as caught:
        Jail(bwrap=str(fake)).run(f"open({str(marker)!r}, 'w').write('x')")
    assert caught.value.reason.startswith("the sandbox failed its self-test")
    assert not marker.exists()


# --- how the jail is built (pure: also checks the GPU layout on machines without a GPU) ----------------------


def _args(gpu: GpuBinding | None = None) -> list[str]:
    return bwrap_args(python="/opt/venv/bin/python3", binds=(("/tmp/0", "/opt/venv"),), limits=Limits(),
                      code_fd=5, bootstrap_fd=6, report_fd=7, gpu=gpu)


def test_the_jail_binds_only_what_a_snippet_needs() -> None:
    args = _args()
    binds = [args[i + 2] for i, arg in enumerate(args) if arg in ("--ro-bind", "--bind", "--dev-bind")]
    assert set(binds) <= {"/usr", "/etc/ld.so.cache", "/etc/fonts", "/opt/venv", "/bin", "/lib", "/lib64", "/sbin"}
    assert "--bind" not in args and "--dev-bind" not in args  # nothing writable from the host
    assert args[args.index("--unshare-all") - 1:args.index("--unshare-all") + 1] == ["bwrap", "--unshare-all"]
    assert args.index("--unshare-all") < args.index("--uid")
    for flag in ("--die-with-parent", "--new-session", "--clearenv"):
        assert flag in args
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--remount-ro"] == ["/dev", "/"]
    sizes = [args[i + 1] for i, arg in enumerate(args) if arg == "--size"]
    assert sizes == [str(Limits().tmp_bytes)] * 3
    env = {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "--setenv"}
    assert all(value for value in env.values())  # an empty value would swallow the next argument
    assert "TT_GPU_MEMORY_FRACTION" not in env and "LD_LIBRARY_PATH" not in env


def test_a_gpu_worker_binds_only_its_own_gpu() -> None:
    gpu = GpuBinding(minor=3, hidden_bus_ids=("0000:17:00.0", "0000:65:00.0"),
                     driver_dirs=("/usr/lib/x86_64-linux-gnu", "/opt/nvidia/lib64"))
    args = _args(gpu)
    devices = [args[i + 1] for i, arg in enumerate(args) if arg == "--dev-bind"]
    assert devices == ["/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert ["--ro-bind", "/opt/nvidia/lib64", "/opt/nvidia/lib64"] == \
        args[args.index("/opt/nvidia/lib64") - 1:args.index("/opt/nvidia/lib64") + 2]
    hidden = [args[i + 1] for i, arg in enumerate(args) if arg == "--tmpfs" and "nvidia" in args[i + 1]]
    assert hidden == ["/proc/driver/nvidia/gpus/0000:17:00.0", "/proc/driver/nvidia/gpus/0000:65:00.0"]
    assert args.index("--proc") < args.index("/proc/driver/nvidia/gpus/0000:17:00.0")  # over the fresh /proc
    env = {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "--setenv"}
    assert env["TT_GPU_MEMORY_FRACTION"] == "0.5"
    assert env["LD_LIBRARY_PATH"] == "/usr/lib/x86_64-linux-gnu:/opt/nvidia/lib64"


def test_limits_are_hard_and_address_space_is_left_to_the_cgroup_on_gpus() -> None:
    limits = Limits(cpu_s=7, processes=32, open_files=100, file_bytes=1000, memory_bytes=5000)
    cpu_only = limit_args(limits, address_space=True)
    assert cpu_only == ["prlimit", "--cpu=7:8", "--nproc=32", "--nofile=100", "--fsize=1000", "--core=0",
                        "--as=5000"]
    assert "--as=5000" not in limit_args(limits, address_space=False)
    assert "--nproc=52" in limit_args(limits, address_space=True, base_processes=20)


def test_as_root_the_jail_runs_under_an_unprivileged_uid_with_staged_python() -> None:
    command = launcher(["prlimit", "bwrap", "--", "python"], uid=2_000_000_123, paths=("/root/py", "/opt/venv"),
                       cgroup_procs="/sys/fs/cgroup/x/cgroup.procs")
    assert command[:5] == ["unshare", "--mount", "--propagation", "private", "--"]
    script = command[-1]
    assert "mount --bind /root/py /tmp/0" in script and "mount --bind /opt/venv /tmp/1" in script
    assert script.index("echo $$ > /sys/fs/cgroup/x/cgroup.procs") < script.index("exec setpriv")
    assert "exec setpriv --reuid=2000000123 --regid=2000000123 --clear-groups --inh-caps=-all --pdeathsig KILL " \
           "prlimit bwrap" in script
    as_user = launcher(["bwrap"], uid=None, paths=("/opt/venv",), cgroup_procs=None)
    assert as_user[0] == "/bin/sh" and "mount" not in as_user[-1] and "--reuid" not in as_user[-1]
    assert "exec setpriv --pdeathsig KILL bwrap" in as_user[-1]


# --- which GPU node a worker binds (read from the driver's /proc files; a fake tree here) ---------------------


def _proc_gpus(root: Path) -> Path:
    gpus = root / "gpus"
    for bus, minor, uuid in (("0000:65:00.0", 2, "GPU-bbbb"), ("0000:17:00.0", 0, "GPU-aaaa"),
                             ("0000:b3:00.0", 1, "GPU-cccc")):
        (gpus / bus).mkdir(parents=True)
        (gpus / bus / "information").write_text(
            f"Model: \t\t NVIDIA H200\nIRQ:   \t\t 98\nGPU UUID: \t {uuid}\nVideo BIOS: \t 96.00.99.00.01\n"
            f"Bus Type: \t PCIe\nDMA Size: \t 52 bits\nDevice Minor: \t {minor}\nGPU Excluded:\t No\n")
    return gpus


def test_a_worker_binds_the_gpu_its_visible_devices_name(tmp_path: Path) -> None:
    from workers.sandbox.gpu import binding_for, installed_gpus

    gpus = installed_gpus(_proc_gpus(tmp_path))
    assert [(g.bus_id, g.minor) for g in gpus] == [("0000:17:00.0", 0), ("0000:65:00.0", 2), ("0000:b3:00.0", 1)]
    second = binding_for("1", gpus, ("/opt/nvidia/lib64",))  # an index counts in PCI bus order, as nvidia-smi
    assert second == GpuBinding(minor=2, hidden_bus_ids=("0000:17:00.0", "0000:b3:00.0"),
                                driver_dirs=("/opt/nvidia/lib64",))
    by_uuid = binding_for("GPU-cccc", gpus)
    assert by_uuid is not None and by_uuid.minor == 1 and "0000:b3:00.0" not in by_uuid.hidden_bus_ids
    assert binding_for("7", gpus) is None and binding_for("GPU-zzzz", gpus) is None
    assert installed_gpus(tmp_path / "none") == []


def test_the_driver_library_folder_comes_from_the_loader_cache() -> None:
    from workers.sandbox.gpu import parse_ldconfig

    listing = ("1234 libs found in cache `/etc/ld.so.cache'\n"
               "\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12\n"
               "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n"
               "\tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1\n"
               "\tlibcuda.so (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so\n")
    assert parse_ldconfig(listing) == ("/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64")
