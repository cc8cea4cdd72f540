"""Issue 46, the Gemma NER pilot: does the untrained soft prompt's placement (before the BOS token, as
PEFT puts it, or after it) or its scale (PEFT's unscaled vocabulary rows, or x sqrt(640) as Gemma scales
its own tokens) change what a probe reads from each word's first sub-word?

For hau and swa (the pilot's data): 8 sampled vocabulary rows (seed 0) inserted into the embedded
sentence, the frozen Gemma-3-270m run over it, and a logistic regression (C = 1, standardised features)
fitted on 200 training sentences and scored on 100 dev sentences (token accuracy, entity F1); cos is
each dev word's cosine to its frozen (no-prompt) feature. Output: docs/results/decoder_tasks/pilot_ner/
prompt_placement.txt. Run: .venv/bin/python scripts/prompt_placement.py [LANGS [MODES]] (comma-separated; about 20 s a mode and
language on 2 cores)."""
import sys, time, numpy as np, torch
from sklearn.linear_model import LogisticRegression
from seqeval.metrics import f1_score
from borderless.config import load_config
from borderless.data.presets import load_dataset
from borderless.backbones.resolve import load_configured
from borderless.token_alignment import tokenize_words
from borderless.backbones.precision import running_in
torch.set_num_threads(2)
cfg = load_config("docs/results/decoder_tasks/pilot_ner/prompt/config.toml")
data = load_dataset(cfg.data)
bb = load_configured(cfg.backbone)
tok, model = bb.tokenizer, bb.model
emb = model.get_input_embeddings()
print(type(emb).__name__, getattr(emb, "embed_scale", None), "bos", tok.bos_token_id)
def sets(lang, ntr=200, ndev=100):
    d = data[lang]
    names = d.labels.names
    tr = tokenize_words(d.train[:ntr], tok, 128, bb.input_prefix, names)
    dv = tokenize_words(d.dev[:ndev], tok, 128, bb.input_prefix, names)
    return names, tr, dv
g = torch.Generator().manual_seed(0)
V = emb.weight.shape[0]
picks = torch.randint(0, V, (8,), generator=g)  # special ids not excluded (as PEFT samples)
raw = emb.weight[picks].detach().float()  # what PEFT's SAMPLE_VOCAB copies (unscaled)
bosrow = emb(torch.tensor([[tok.bos_token_id]]))[0].detach().float()  # "bos": 8 copies of BOS
scale = float(emb.embed_scale) if hasattr(emb, "embed_scale") else 1.0
@torch.no_grad()
def feats(ts, mode):
    out = []
    for ids, st in zip(ts.input_ids, ts.word_starts):
        x = torch.tensor([ids])
        e = emb(x).float()  # scaled token embeddings
        if mode == "frozen":
            p, at = None, 0
        else:
            where, sc = mode.split("_")
            p = bosrow.expand(8, -1) if sc == "bos" else raw * (scale if sc == "scaled" else 1.0)
            at = 0 if where == "before" else 1
        if p is not None:
            e = torch.cat([e[:, :at], p[None].to(e.dtype), e[:, at:]], 1)
        with running_in(bb.dtype, "cpu"):
            h = model(inputs_embeds=e.to(bb.dtype), attention_mask=torch.ones(e.shape[:2], dtype=torch.long)).last_hidden_state.float()
        # every first sub-word sits after BOS (index 0), so either placement shifts it by the 8 prompt rows
        idx = torch.as_tensor(st) + (8 if p is not None else 0)
        out.append(h[0, idx])
    return torch.cat(out).numpy()
LANGS = sys.argv[1].split(",") if len(sys.argv) > 1 else ["hau", "swa"]
MODES = sys.argv[2].split(",") if len(sys.argv) > 2 else ["before_raw", "before_scaled", "after_raw", "after_scaled",
                                                         "before_bos", "after_bos"]
for lang in LANGS:
    names, tr, dv = sets(lang)
    ytr = np.concatenate(tr.tags); ydv = np.concatenate(dv.tags)
    ref = None
    for mode in ["frozen", *MODES]:
        t0 = time.time()
        Xtr, Xdv = feats(tr, mode), feats(dv, mode)
        if mode == "frozen": ref = Xdv
        cos = float(np.mean(np.sum(Xdv * ref, 1) / (np.linalg.norm(Xdv, axis=1) * np.linalg.norm(ref, axis=1))))
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
        clf = LogisticRegression(C=1.0, max_iter=300).fit((Xtr - mu) / sd, ytr)
        pred = clf.predict((Xdv - mu) / sd)
        # entity F1 per sentence
        yt, yp, k = [], [], 0
        for t in dv.tags:
            n = len(t); yt.append([names[i] for i in t]); yp.append([names[i] for i in pred[k:k + n]]); k += n
        print(f"{lang} {mode:14s} acc {np.mean(pred == ydv):.3f} F1 {f1_score(yt, yp):.3f} cos-to-frozen {cos:.3f} "
              f"norm {np.linalg.norm(Xdv, axis=1).mean():.0f} ({time.time()-t0:.0f}s)", flush=True)
