"""Augmentation: waveform variants (time-stretch, pitch-shift, noise; cached, seeded) and
SpecAugment-style masking plus optional mixup on the log-mel features (on the fly)."""
from __future__ import annotations

import numpy as np
import torch


def waveform_variant(y: np.ndarray, sr: int, seed: int) -> np.ndarray:
    """One seeded random variant: time-stretch 0.9-1.1, pitch-shift -2..2 semitones, noise at
    25-40 dB SNR (each applied with probability 0.5, at least one). Shape and dtype as ``y``."""
    import librosa

    rng = np.random.default_rng(seed)
    ops = rng.random(3) < 0.5
    if not ops.any():
        ops[rng.integers(3)] = True
    out = y
    if ops[0]:
        out = librosa.effects.time_stretch(out, rate=float(rng.uniform(0.9, 1.1)))
    if ops[1]:
        out = librosa.effects.pitch_shift(out, sr=sr, n_steps=float(rng.uniform(-2, 2)))
    if ops[2]:
        power = float(np.mean(out ** 2)) + 1e-12
        snr_db = rng.uniform(25, 40)
        out = out + rng.standard_normal(out.size).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    return out.astype(np.float32)


def spec_augment(features: torch.Tensor, n_freq_masks: int = 2, freq_width: int = 10,
                 n_time_masks: int = 2, time_width: int = 100) -> torch.Tensor:
    """Mask random mel bands and time spans with each example's mean. ``features.shape = (B, n_mels, T)``."""
    x = features.clone()
    b, n_mels, n_t = x.shape
    fill = x.mean(dim=(1, 2), keepdim=True).expand_as(x)
    dev = x.device
    mask = torch.zeros_like(x, dtype=torch.bool)
    for _ in range(n_freq_masks):
        w = torch.randint(0, freq_width + 1, (b, 1, 1), device=dev)
        f0 = (torch.rand(b, 1, 1, device=dev) * (n_mels - w)).long()
        idx = torch.arange(n_mels, device=dev).view(1, -1, 1)
        mask |= (idx >= f0) & (idx < f0 + w)
    for _ in range(n_time_masks):
        w = torch.randint(0, time_width + 1, (b, 1, 1), device=dev)
        t0 = (torch.rand(b, 1, 1, device=dev) * (n_t - w)).long()
        idx = torch.arange(n_t, device=dev).view(1, 1, -1)
        mask |= (idx >= t0) & (idx < t0 + w)
    return torch.where(mask, fill, x)


def mixup(features: torch.Tensor, labels: torch.Tensor, n_classes: int, alpha: float):
    """Mix pairs of examples. Returns (features, soft targets of shape (B, n_classes))."""
    targets = torch.nn.functional.one_hot(labels, n_classes).float()
    if alpha <= 0:
        return features, targets
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)))).beta(alpha, alpha))
    perm = torch.randperm(features.shape[0], device=features.device)
    return lam * features + (1 - lam) * features[perm], lam * targets + (1 - lam) * targets[perm]
