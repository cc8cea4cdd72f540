"""Files that are either whole or absent: written to a temporary name beside the target, fsync'ed,
then renamed over it (``os.replace`` is atomic on POSIX and Windows). A kill at any moment leaves
the previous file or the new one, never half of one; the temporary file of a killed write is named
``.<name>.tmp`` and is replaced by the next write.

Used for everything a finished run writes (results.json, report.md, the plots, the trained states)
and for the checkpoint, so that the checkpoint can be removed only once all of them are in place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder is synced (not possible on every
    platform; a failure here loses nothing that a crash would not)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path, then move it onto ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def write_text(path: Path, text: str) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_safetensors(tensors: dict, path: Path, metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in tensors.items()}
    return replace_atomically(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))
