"""A converted backbone's cache folder appears whole or not at all: it is written as
``<name>.partial`` (a stale one, left by a killed conversion, is removed first) and renamed into
place only when everything in it was written; on any failure the partial folder is removed.

Processes that find the folder missing at the same time (the SuperNodes of ``deploy local`` on an
empty cache, parallel test workers) convert it one at a time: ``one_converter`` holds an exclusive
lock on the cache folder itself, so the second one waits and then finds the folder whole."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(out_dir: Path) -> Iterator[Path]:
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def one_converter(out_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``out_dir``'s parent (the cache folder) while one process converts into it.
    No lock file is left behind; the lock goes with the process if it is killed."""
    parent = Path(out_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_whole(out_dir: Path) -> bool:
    """A converted folder is whole once its borderless.json is there (written last, renamed in whole)."""
    return (Path(out_dir) / "borderless.json").exists()


def convert_once(out_dir: Path, convert: Callable[[Path], object]) -> bool:
    """Convert into ``out_dir`` unless it is already whole; another process converting at the same
    moment is waited for, not repeated. True when this call converted."""
    out_dir = Path(out_dir)
    if is_whole(out_dir):
        return False
    with one_converter(out_dir):
        if is_whole(out_dir):  # another process finished it while this one waited
            return False
        convert(out_dir)
        return True
