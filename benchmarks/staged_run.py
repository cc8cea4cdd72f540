"""`borderless` with the stages of `borderless run` marked, for memory.py's ``--stages``.

    BORDERLESS_STAGES=stages.log python benchmarks/staged_run.py run CONFIG [options]

Wraps the runner's stage functions so that each writes ``<unix time> start|end <stage>`` to the file
named by $BORDERLESS_STAGES, then runs the command line as `borderless` would. memory.py samples the
process's resident memory beside it and reports the peak reached inside each stage.
"""

from __future__ import annotations

import functools
import os
import sys
import time

from borderless import runner
from borderless.cli import main

STAGES = ["load_data", "load_configured", "build_workload", "probe_data", "fit_probes", "start_probes",
          "_run_paradigms", "family_of", "write_report"]


def marked(name: str, fn, log):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        log.write(f"{time.time():.3f} start {name}\n")
        try:
            return fn(*args, **kwargs)
        finally:
            log.write(f"{time.time():.3f} end {name}\n")
    return wrapped


if __name__ == "__main__":
    log = open(os.environ["BORDERLESS_STAGES"], "a", buffering=1)  # noqa: SIM115 - open for the whole run
    for stage in STAGES:
        setattr(runner, stage, marked(stage, getattr(runner, stage), log))
    sys.exit(main(sys.argv[1:]))
