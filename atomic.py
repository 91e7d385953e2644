"""Files replaced whole or not at all: the one way this project writes a file that a reader, another
process or a crash may meet half-written (checkpoints, the register cache and settings, uploaded
register examples, reports). Standard library only, so the torch-free inference image has it.

    with atomic_path("runs/x/last.pt") as tmp:   # write tmp by any means (torch.save, np.savez, ...)
        torch.save(state, tmp)
    write_atomic("register/docclassifier.yaml", text)

A temporary file beside the target (hidden: ``.<name>.<random>.tmp``, so folder scanners skip it) is
written, flushed to disk, given the permissions a plain ``open()`` would have (mkstemp's are 0600),
renamed over the target, and the rename itself is flushed (the folder's entry). A crash at any moment
leaves the old file or the new one; an error leaves the old one and no temporary.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform or file system that cannot open folders: the file itself is synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporaries of writers of ``path`` that were killed mid-write (SIGKILL leaves no chance to
    clean up). Only safe to delete where one process writes ``path``."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, the file there
    is flushed to disk and renamed over ``path``. On an error the temporary is removed."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(folder)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through ``atomic_path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path
