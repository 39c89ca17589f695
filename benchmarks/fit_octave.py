"""Fit the tempo-octave weights (genre_model.theory.tempo.OCTAVE_WEIGHTS) on the dev split.

For every dev clip of benchmarks/theory_dataset.py, the analyser's metrical readings of the pulse
(x1/3 ... x3 of the most salient period) are scored by a conditional logit (softmax over the
readings of one clip) on ``tempo.octave_features``; the label is the reading within 6 % of the
true tactus. L2-regularised maximum likelihood; 5-fold cross-validation on dev says how well it
generalises. The held-out split is only reported, never fitted.

    python benchmarks/fit_octave.py            # prints CV accuracy and the weights to paste
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import Truth  # noqa: E402
from benchmarks.theory_dataset import build, split_of  # noqa: E402
from genre_model.audio import decode_audio  # noqa: E402
from genre_model.theory import tempo as T  # noqa: E402
from genre_model.theory.signal import SR, Signal  # noqa: E402

NAMES = list(T.OCTAVE_WEIGHTS)


def readings(item: tuple[Path, Truth]) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(split, features (n_readings, n_features), is-correct (n_readings,)) of one clip."""
    wav, truth = item
    found = T.octave_candidates(Signal(decode_audio(wav, target_sr=SR)[0]))
    if isinstance(found, T.TempoResult):
        return None
    cands, _ = found
    X = np.array([[c.features[k] for k in NAMES] for c in cands])
    y = np.array([abs(c.bpm / truth.tempo - 1) < 0.06 for c in cands])
    return split_of(truth.seed), X, y


def fit(data, lam: float) -> np.ndarray:
    """Weights maximising the L2-penalised likelihood that a clip's chosen reading is a correct
    one (softmax over the clip's readings; analytic gradient), shape = (n_features,)."""
    n, k, f = len(data), max(X.shape[0] for X, _ in data), data[0][0].shape[1]
    X, M, Y = np.zeros((n, k, f)), np.zeros((n, k), bool), np.zeros((n, k), bool)
    for i, (x, y) in enumerate(data):
        X[i, : len(x)], M[i, : len(x)], Y[i, : len(x)] = x, True, y

    def loss(w):
        z = np.where(M, X @ w, -np.inf)
        e = np.exp(z - z.max(1, keepdims=True))
        ey = np.where(Y, e, 0.0)
        sy, se = ey.sum(1, keepdims=True), e.sum(1, keepdims=True)
        grad = np.einsum("nk,nkf->f", e / se - ey / sy, X) + 2 * lam * w
        return float(-np.log(sy / se).sum() + lam * w @ w), grad

    return minimize(loss, np.zeros(f), jac=True, method="L-BFGS-B").x


def accuracy(w: np.ndarray, data) -> float:
    return float(np.mean([y[int(np.argmax(X @ w))] for X, y in data])) if data else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lam", type=float, default=0.1, help="L2 weight")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    clips, _ = build(args.workers)
    with ProcessPoolExecutor(args.workers) as ex:
        rows = [r for r in ex.map(readings, clips) if r is not None]
    dev = [(X, y) for s, X, y in rows if s == "dev" and y.any()]
    test = [(X, y) for s, X, y in rows if s == "test"]
    folds = np.arange(len(dev)) % 5
    cv = []
    for f in range(5):
        w = fit([d for d, k in zip(dev, folds) if k != f], args.lam)
        cv += [y[int(np.argmax(X @ w))] for (X, y), k in zip(dev, folds) if k == f]
    w = fit(dev, args.lam)
    now = np.array([T.OCTAVE_WEIGHTS[k] for k in NAMES])
    print(f"dev clips {len(dev)}: 5-fold CV accuracy of the octave choice {np.mean(cv):.3f}")
    print(f"fitted on all dev: dev {accuracy(w, dev):.3f}, held-out {accuracy(w, test):.3f} "
          f"(weights in tempo.py now: dev {accuracy(now, dev):.3f}, held-out {accuracy(now, test):.3f})")
    print("OCTAVE_WEIGHTS =", json.dumps({k: round(float(v), 2) for k, v in zip(NAMES, w)}))


if __name__ == "__main__":
    main()
