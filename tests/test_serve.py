"""borderless serve: a real server process on 127.0.0.1, asked over HTTP by a plain client (urllib):
the predictions of borderless.load, /health, /model, and 4xx answers that name the problem."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import borderless
from borderless.flower.processes import free_port
from trained_run import LANGS, finished_run


def _ask(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _post(url: str, obj) -> tuple[int, dict]:
    return _ask(url, json.dumps(obj).encode())


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_backbone):
    folder, _ = finished_run(tmp_path_factory.mktemp("run"), tiny_backbone)
    port = free_port()
    log = (folder.parent / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "borderless.cli", "serve", str(folder), "--port", str(port),
                             "--paradigm", "federated_personal", "--max-body-bytes", "20000"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if _ask(base + "/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (folder.parent / "serve.log").read_text()
            time.sleep(0.3)
        yield base, folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_service_answers_as_the_python_api_does(server, tiny_backbone):
    base, folder = server
    texts = ["the market river", "da na kasar wasan lafiya"]
    status, body = _post(base + "/predict", {"texts": texts, "language": "hau_Latn"})
    assert status == 200 and len(body["predictions"]) == 2
    clf = borderless.load(folder, "federated_personal", backbone=tiny_backbone)
    try:
        want = clf.predict_proba(texts, language="hau_Latn")
    finally:
        clf.close()
    for got, exp in zip(body["predictions"], want):
        assert got["label"] == max(exp, key=exp.get)
        assert all(abs(got["probabilities"][k] - v) < 1e-5 for k, v in exp.items())
    status, health = _ask(base + "/health")
    assert status == 200 and health["status"] == "ok" and health["languages"] == list(LANGS)
    status, card = _ask(base + "/model")
    assert status == 200 and card["paradigm"] == "federated_personal" and not card["one_model_for_every_language"]
    res = json.loads((folder / "results.json").read_text())
    assert card["test_accuracy"] == res["paradigms"]["federated_personal"]["test_accuracy"]


def test_bad_requests_get_a_4xx_that_names_the_problem(server):
    base, _ = server
    status, body = _post(base + "/predict", {"texts": [], "language": "hau_Latn"})
    assert status == 400 and "empty list" in body["detail"]
    status, body = _post(base + "/predict", {"texts": ["x"], "language": "yor_Latn"})
    assert status == 400 and "no federated_personal model for yor_Latn" in body["detail"]
    status, body = _post(base + "/predict", {"texts": ["x"]})
    assert status == 400 and "one model per language" in body["detail"]
    status, body = _post(base + "/predict", {"texts": ["x" * 10_001], "language": "hau_Latn"})  # 10 kB: under the body limit
    assert status == 413 and "texts[0]: 10001 characters" in body["detail"]
    status, body = _post(base + "/predict", {"texts": ["x"] * 257, "language": "hau_Latn"})
    assert status == 413 and "at most 256" in body["detail"]
    status, body = _ask(base + "/predict", b'{"texts": ["x"')
    assert status == 422 and "expected JSON like" in body["detail"]
    status, body = _post(base + "/predict", {"text": ["x"]})
    assert status == 422 and "texts" in body["detail"]
    status, body = _post(base + "/predict", {"texts": ["a" * 25_000], "language": "hau_Latn"})
    assert status == 413 and "at most 20000" in body["detail"]  # --max-body-bytes
