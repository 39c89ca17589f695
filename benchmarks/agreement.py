"""Agreement between an engine/precision and the torch fp32 reference, on pooled embeddings.

No trained genre head exists offline, so labels come from a fixed seeded random head over the
pooled encoder states (10 classes, like GTZAN). A random head leaves some windows near a tie
(top-2 logit margin under 1 % of the logits' mean magnitude); a flip there says nothing about the
engine, so flips are counted over the decisive windows and ties are reported beside them.
"""
from __future__ import annotations

import numpy as np

TIE = 0.01  # a margin under this fraction of mean |logit| is a tie


def one_minus_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine between matching rows of ``a`` and ``b`` (n, d), computed in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return 1 - (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def fixed_head(d_model: int, n_labels: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((d_model, n_labels))


def top1_agreement(ref: np.ndarray, got: np.ndarray, head: np.ndarray | None = None) -> tuple[int, int, int]:
    """(decisive windows that keep their top-1 label, decisive windows, ties) under ``head``."""
    head = fixed_head(ref.shape[1]) if head is None else head
    z_ref, z_got = np.asarray(ref, np.float64) @ head, np.asarray(got, np.float64) @ head
    top2 = np.sort(z_ref, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) >= TIE * np.abs(z_ref).mean()
    kept = (z_ref.argmax(1) == z_got.argmax(1)) & decisive
    return int(kept.sum()), int(decisive.sum()), int((~decisive).sum())
