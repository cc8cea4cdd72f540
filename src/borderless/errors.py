"""What the command line says when something fails: one short paragraph, never a raw traceback.

Every error a user can cause or fix (config, data, output folder, backbone conversion, a missing or
broken dependency) becomes ``borderless: error: <what failed and how to fix it>`` with exit code 2;
Ctrl-C exits with 130. ``--debug`` or ``BORDERLESS_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import os

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, systemd, ``docker stop``, ``kill``) turned into the same unwinding as
    Ctrl-C: every ``finally`` runs, so every process a command started is stopped."""


def terminate_like_interrupt(signum, frame) -> None:
    raise Terminated()
REINSTALL = "reinstall exactly the locked versions with `bash scripts/setup.sh` (it installs requirements.lock)"


class BorderlessError(Exception):
    """An error whose message already says what failed and how to fix it."""


class BackboneError(BorderlessError):
    """A backbone could not be converted or loaded."""


class OutputError(BorderlessError):
    """The results folder cannot be written."""


class ModelError(BorderlessError):
    """A trained model (a finished run's folder) cannot be used as asked: no kept models, no model
    for that language, input of the wrong shape."""


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("BORDERLESS_DEBUG", "") not in ("", "0")


def _is_dependency_error(err: BaseException) -> bool:
    # protobuf's gencode/runtime mismatch (google.protobuf.runtime_version.VersionError) is not an ImportError
    return isinstance(err, ImportError) or (type(err).__module__.startswith("google.protobuf")
                                            and type(err).__name__ == "VersionError")


def explain(err: BaseException) -> tuple[int, str]:
    """(exit code, message) for an exception that reached the command line."""
    from borderless.config import ConfigError

    text = str(err).strip() or type(err).__name__
    if isinstance(err, (BorderlessError, ConfigError)):
        return EXIT_USER_ERROR, text
    if _is_dependency_error(err):
        return EXIT_USER_ERROR, f"a dependency is missing or broken ({type(err).__name__}: {text}); {REINSTALL}"
    if isinstance(err, MemoryError):
        return EXIT_USER_ERROR, ("out of memory; lower train.batch_size / train.eval_batch_size, "
                                 "data.max_*_per_language, or run fewer languages at once")
    if isinstance(err, (PermissionError, IsADirectoryError, NotADirectoryError)) or (
            isinstance(err, OSError) and not isinstance(err, (FileNotFoundError, FileExistsError))
            and err.filename is not None):
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return EXIT_USER_ERROR, (f"{where}{err.strerror or text}; choose a folder you can write "
                                 "(--output, backbone.cache_dir or $BORDERLESS_CACHE) or fix its permissions")
    if isinstance(err, (ValueError, KeyError, FileNotFoundError, FileExistsError, TimeoutError)):
        return EXIT_USER_ERROR, text.strip("'\"") if isinstance(err, KeyError) else text
    return EXIT_INTERNAL_ERROR, (f"internal error ({type(err).__name__}: {text}). This is a bug in borderless: "
                                 "rerun with --debug (or BORDERLESS_DEBUG=1) for the traceback and report it")
