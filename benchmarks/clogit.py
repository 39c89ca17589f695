"""Conditional logit (softmax over one item's candidates) fitted on the dev split of the theory
set: how benchmarks/fit_octave.py and benchmarks/fit_key.py choose the weights in
genre_model/theory (tempo.OCTAVE_WEIGHTS, key.KEY_WEIGHTS). The held-out split is only reported.
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

import numpy as np
from scipy.optimize import minimize

from benchmarks.theory_dataset import build

# one item: (split, features of its candidates (n_candidates, n_features), is-correct (n_candidates,))
Item = tuple[str, np.ndarray, np.ndarray]


def fit(data: list[tuple[np.ndarray, np.ndarray]], lam: float) -> np.ndarray:
    """Weights maximising the L2-penalised likelihood that an item's chosen candidate is a correct
    one (softmax over the item's candidates; analytic gradient), shape = (n_features,)."""
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


def main(readings: Callable[[tuple], Item | None], current: dict[str, float], name: str, what: str) -> None:
    """Fit ``current``'s features on the dev clips' ``readings``; print 5-fold CV accuracy on dev,
    held-out accuracy and the weights to paste as ``name``."""
    ap = argparse.ArgumentParser(description=f"fit {name} on the dev split")
    ap.add_argument("--lam", type=float, default=0.1, help="L2 weight")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    clips, _ = build(args.workers)
    with ProcessPoolExecutor(args.workers) as ex:
        rows = [r for r in ex.map(readings, clips, chunksize=4) if r is not None]
    dev = [(X, y) for s, X, y in rows if s == "dev" and y.any()]
    test = [(X, y) for s, X, y in rows if s == "test"]
    folds = np.random.default_rng(0).permutation(len(dev)) % 5
    cv = []
    for f in range(5):
        w = fit([d for d, k in zip(dev, folds) if k != f], args.lam)
        cv += [y[int(np.argmax(X @ w))] for (X, y), k in zip(dev, folds) if k == f]
    w = fit(dev, args.lam)
    now = np.array(list(current.values()))
    print(f"dev clips {len(dev)}: 5-fold CV accuracy of the {what} {np.mean(cv):.3f}")
    print(f"fitted on all dev: dev {accuracy(w, dev):.3f}, held-out {accuracy(w, test):.3f} "
          f"(weights in the code now: dev {accuracy(now, dev):.3f}, held-out {accuracy(now, test):.3f})")
    print(f"{name} =", json.dumps({k: round(float(v), 2) for k, v in zip(current, w)}))


def loso(rows: list[tuple[str, np.ndarray, np.ndarray]], lam: float) -> tuple[dict[str, float], np.ndarray]:
    """Leave-one-source-out: for each source, the accuracy on it of weights fitted on all the
    other sources; and the weights fitted on every source (what the code ships).

    rows : (source, features (n_candidates, n_features), is-correct (n_candidates,)) per item;
    items without a correct candidate count as errors in the accuracy and are left out of fitting.
    """
    sources = sorted({s for s, _, _ in rows})
    held = {}
    for src in sources:
        train = [(X, y) for s, X, y in rows if s != src and y.any()]
        w = fit(train, lam)
        held[src] = accuracy(w, [(X, y) for s, X, y in rows if s == src])
    return held, fit([(X, y) for _, X, y in rows if y.any()], lam)
