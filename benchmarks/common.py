"""Helpers shared by the benchmark scripts (timing, RSS, a whisper-tiny-sized random model, the
leave-one-source-out fits' files)."""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
ANALYSER_CODE = (ROOT / "genre_model" / "theory", ROOT / "genre_model" / "audio.py")  # what the fits depend on
TINY_DIMS = dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536,
                 classifier_proj_size=256)


def timeit(fn, repeat: int = 5, warmup: int = 1) -> tuple[float, float]:
    """Median and min wall seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A deterministic harmonic-plus-noise signal, float32 at 16 kHz, shape = (seconds*SR,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for k, f in enumerate(rng.choice([110, 147, 165, 196, 220, 262, 330], size=6)):
        y += 0.1 / (k + 1) * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * (0.5 + k) * t)) / 2
    y += 0.02 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def sectioned_song(seconds: float, section: float = 30.0, seed: int = 0) -> np.ndarray:
    """A song whose consecutive sections differ (pitch set, brightness, noise level), so that
    skipping windows changes the answer; shape = (seconds*SR,) float32."""
    parts = []
    for k in range(int(np.ceil(seconds / section))):
        rng = np.random.default_rng(seed * 100 + k)
        y = music_like(section, seed=seed * 100 + k)
        y += rng.uniform(0, 0.2) * rng.standard_normal(y.size).astype(np.float32)
        parts.append(y * rng.uniform(0.3, 1.0))
    return np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)


def tiny_whisper_folder(labels=None, head_gain: float = 1.0) -> str:
    """Save a randomly initialised whisper-tiny-sized classifier (timing only, never trained).

    ``head_gain`` scales the classifier weights so the random model's probabilities are
    peaked like a trained model's instead of near-uniform (agreement checks need that)."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from genre_model.model import GTZAN_GENRES, save_model, tiny_config

    torch.manual_seed(0)
    model = WhisperForAudioClassification(tiny_config(labels or GTZAN_GENRES, **TINY_DIMS)).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(head_gain)
    folder = Path(tempfile.mkdtemp(prefix="bench-tiny-"))
    save_model(model, WhisperFeatureExtractor(feature_size=80), folder)
    return str(folder)


def write_wav(path: str | os.PathLike, y: np.ndarray, sr: int = SR) -> str:
    import soundfile as sf

    sf.write(str(path), y, sr)
    return str(path)


def print_table(headers: list[str], rows: list[list]) -> None:
    """Print a GitHub-markdown table."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


def analyser_version() -> str:
    """A digest of the analyser's code (genre_model/theory/*.py and genre_model/audio.py, the
    shipped weights included): a held-out fit holds only for the code it was fitted on."""
    h = hashlib.sha1()
    for root in ANALYSER_CODE:
        for p in sorted([root] if root.is_file() else root.rglob("*.py")):
            h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def write_fit(path: Path, per_source: dict) -> None:
    """Write a leave-one-source-out fit ({held-out source: its weights or parameters}) with the
    :func:`analyser_version` it was fitted on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"analyser": analyser_version(), "per_source": per_source}, indent=1))


_SAID: set[str] = set()


def read_fit(path: Path) -> dict | None:
    """The fit :func:`write_fit` wrote to ``path``, or None when there is none or it was fitted on
    other analyser code (then the benchmarks fall back to the shipped values and mark their rows
    in-sample, and this says once which script to run again: a stale fit once reported held-out
    rows that were not)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if isinstance(data, dict) and data.get("analyser") == analyser_version():
        return data["per_source"]
    if str(path) not in _SAID:
        _SAID.add(str(path))
        print(f"{path.name} was fitted on other analyser code: run its fit script again "
              f"(benchmarks/fit_{path.name.split('-')[0]}.py)", file=sys.stderr)
    return None
