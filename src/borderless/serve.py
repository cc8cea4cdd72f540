"""``borderless serve MODEL_DIR|RUN_DIR``: the trained model as an HTTP service (FastAPI + uvicorn;
issue 44, item 5).

- ``POST /predict`` ``{"texts": [...], "language": "hau_Latn"}`` (``language`` and ``text_pairs``
  optional) → ``{"predictions": [{"label": ..., "probabilities": {...}}, ...]}``; a tagger (NER, POS)
  answers ``{"predictions": [{"words": [...], "tags": [...], "entities": [...]}, ...]}`` (entities for
  BIO tags);
- ``GET /health`` → ``{"status": "ok", ...}``;
- ``GET /model`` → the model card as JSON: paradigm, labels, languages, backbone, method, test accuracy.

Limits: at most ``max_texts`` texts a request, ``max_chars`` characters a text, ``max_body_bytes`` a
body; past them a 413 says which and by how much. Malformed JSON, an empty list, a missing field or
an unknown language get a 400 or 422 whose ``detail`` names the field and the fix. One model, one
backbone: requests are served one at a time, each request's texts batched by length. It binds
127.0.0.1 unless ``--host`` says otherwise.
"""

# no `from __future__ import annotations` here: FastAPI reads the endpoint's annotations, and the
# request model is a class local to create_app
import statistics
import threading

MAX_TEXTS = 256
MAX_CHARS = 10_000
MAX_BODY_BYTES = 4_000_000


def model_card(model, limits: dict | None = None) -> dict:
    """What ``GET /model`` answers: the served model, in the terms of its card."""
    extra: dict = {}
    if model.exported:
        m = model.manifest
        acc = m.get("test_accuracy") or {}
        backbone, method = m.get("backbone", {}), m.get("method", {})
        if m.get("metric", "accuracy") != "accuracy":
            extra = {"metric": m["metric"], f"test_{m['metric']}": m.get(f"test_{m['metric']}") or {}}
    else:
        entry = model.results["paradigms"][model.paradigm]
        acc = {l: entry["test_accuracy"].get(l) for l in model.languages}
        metric = model.results.get("metric", "accuracy")
        if metric != "accuracy":  # the run's own metric beside accuracy (entity F1 for NER)
            extra = {"metric": metric, f"test_{metric}": {l: entry[f"test_{metric}"].get(l) for l in model.languages}}
        backbone = {"name": model.cfg.backbone.name}
        method = {"name": model.cfg.method.name,
                  "trainable_parameters": model.results.get("method", {}).get("trainable_parameters")}
    known = [a for a in acc.values() if a is not None]
    return {"paradigm": model.paradigm, "labels": model.labels, "languages": model.languages,
            "one_model_for_every_language": model.shared, "label_sets": model.label_sets,
            "backbone": backbone, "method": method, "test_accuracy": acc,
            "mean_test_accuracy": statistics.fmean(known) if known else None,
            "task": "token" if model.token_task else "sentence", **extra,
            "limits": limits or {"max_texts": MAX_TEXTS, "max_chars": MAX_CHARS, "max_body_bytes": MAX_BODY_BYTES}}


def create_app(model, max_texts: int = MAX_TEXTS, max_chars: int = MAX_CHARS, max_body_bytes: int = MAX_BODY_BYTES):
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict

    from borderless.errors import ModelError

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[str]
        language: str | None = None
        text_pairs: list[str] | None = None

    app = FastAPI(title="borderless", description="a federated, prompt-tuned multilingual classifier")
    lock = threading.Lock()
    card = model_card(model, {"max_texts": max_texts, "max_chars": max_chars, "max_body_bytes": max_body_bytes})

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > max_body_bytes:
            return JSONResponse({"detail": f"request body of {size} bytes; at most {max_body_bytes}: send fewer "
                                           "or shorter texts per request"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problems = []
        for e in err.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            problems.append(f"{where}: {e.get('msg')}")
        return JSONResponse({"detail": "; ".join(problems) + ' (expected JSON like {"texts": ["..."], '
                                       '"language": "hau_Latn"})'}, status_code=422)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "paradigm": model.paradigm, "languages": model.languages}

    @app.get("/model")
    def describe() -> dict:
        return card

    @app.post("/predict")
    def predict(req: PredictRequest) -> dict:
        if not req.texts:
            raise HTTPException(400, "texts: empty list; send at least one text")
        if len(req.texts) > max_texts:
            raise HTTPException(413, f"texts: {len(req.texts)} in one request; at most {max_texts}: split the request")
        long = [i for i, t in enumerate(req.texts) if len(t) > max_chars]
        if long:
            raise HTTPException(413, f"texts[{long[0]}]: {len(req.texts[long[0]])} characters; at most {max_chars} "
                                     "(the model reads the first tokens only: send the text's start)")
        if req.text_pairs is not None and len(req.text_pairs) != len(req.texts):
            raise HTTPException(400, f"text_pairs: {len(req.text_pairs)} for {len(req.texts)} texts; give one per text")
        if model.token_task:
            return tag(req)
        try:
            with lock:  # one classifier: one request at a time
                probs = model.predict_proba(req.texts, req.language, req.text_pairs)
        except ModelError as err:
            raise HTTPException(400, str(err)) from None
        return {"paradigm": model.paradigm, "language": req.language,
                "predictions": [{"label": max(p, key=p.get), "probabilities": p} for p in probs]}

    def tag(req) -> dict:
        """A tagger: each text's words (split on whitespace), their tags and, for BIO tags, the entities."""
        from borderless.data.conll import entity_spans, is_bio

        if req.text_pairs is not None:
            raise HTTPException(400, "text_pairs: a tagger reads one sentence per text; drop text_pairs")
        empty = [i for i, t in enumerate(req.texts) if not t.split()]
        if empty:
            raise HTTPException(400, f"texts[{empty[0]}]: no words to tag; send a sentence")
        try:
            with lock:
                tagged = model.tag(req.texts, req.language)
        except ModelError as err:
            raise HTTPException(400, str(err)) from None
        out = []
        for pairs in tagged:
            words, tags = [w for w, _ in pairs], [t for _, t in pairs]
            out.append({"words": words, "tags": tags}
                       | ({"entities": entity_spans(words, tags)} if is_bio(model.labels) else {}))
        return {"paradigm": model.paradigm, "language": req.language, "predictions": out}

    return app


def serve(path: str, host: str = "127.0.0.1", port: int = 8000, paradigm: str | None = None,
          max_texts: int = MAX_TEXTS, max_chars: int = MAX_CHARS, max_body_bytes: int = MAX_BODY_BYTES) -> int:
    import uvicorn

    from borderless.trained_model import load

    model = load(path, paradigm)
    try:
        uvicorn.run(create_app(model, max_texts, max_chars, max_body_bytes), host=host, port=port, log_level="info")
    finally:
        model.close()
    return 0
