"""A pytest plugin for tests/test_fast_tier.py: after collection, writes one JSON line per selected
test (its file and whether its own source sleeps) to ``$BORDERLESS_COLLECTED``."""

from __future__ import annotations

import inspect
import json
import os
import re

SLEEP = re.compile(r"(?<![\w.])(time\.)?sleep\(")  # time.sleep( or a bare sleep(, not an object's own .sleep(


def pytest_collection_finish(session):
    path = os.environ.get("BORDERLESS_COLLECTED")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as fh:
        for item in session.items:
            try:
                source = inspect.getsource(item.function)
            except (OSError, TypeError, AttributeError):
                source = ""
            fh.write(json.dumps({"nodeid": item.nodeid, "file": item.nodeid.split("::")[0],
                                 "sleeps": bool(SLEEP.search(source))}) + "\n")
