"""The Whisper log-mel front end (openai-whisper's), applied to 30-second windows.

Whisper's encoder sees exactly ``CHUNK_LENGTH`` = 30 s: ``N_SAMPLES`` = 480 000 samples at
16 kHz become ``N_FRAMES`` = 3000 mel frames (hop 10 ms). A song is therefore cut into
windows (:func:`plan_windows`); a clip shorter than 30 s is tiled (repeated) to fill its window
by default (``WhisperFeatureExtractor`` zero-pads instead: on the real Whisper tiny.en encoder
and real music, tiling an 8-s excerpt lands at pooled 1-cos 0.04 from the full 30-s window's
embedding, zero-padding at 0.26 and masked pooling at 0.26; benchmarks/bench_short_clips.py),
and :func:`log_mel` turns a batch of windows into features with
openai-whisper's filters and normalisation (``log10``, clamp to ``max - 8``, ``(x + 4) / 4``),
the max taken per window, so a batch gives the same features as one window at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from whisper.audio import CHUNK_LENGTH, HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES, SAMPLE_RATE, mel_filters

__all__ = [
    "SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "CHUNK_LENGTH", "N_SAMPLES", "N_FRAMES",
    "Window", "plan_windows", "stack_windows", "log_mel",
]

MIN_LAST_WINDOW = 10.0  # s; a trailing remainder shorter than this is already covered


@dataclass(frozen=True)
class Window:
    """One analysis window, in seconds from the start of the track."""

    start: float
    end: float

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3)}


def plan_windows(
    n_samples: int,
    *,
    hop: float = CHUNK_LENGTH,
    min_last: float = MIN_LAST_WINDOW,
    max_windows: int | None = None,
    sr: int = SAMPLE_RATE,
) -> list[Window]:
    """Cut a track of ``n_samples`` into 30-s windows.

    * a track of at most 30 s gives one window ``[0, duration]`` (filled later, see
      :func:`stack_windows`);
    * otherwise windows start every ``hop`` seconds; a trailing remainder of at least
      ``min_last`` seconds gets one more window, aligned to end at the end of the track (so it
      holds 30 s of real audio, overlapping its neighbour, instead of mostly padding);
    * with ``max_windows``, a longer track keeps that many windows spread evenly from the first
      to the last (always both ends), so cost stays bounded for long songs.

    Returns
    -------
    list of Window, ordered by start time
    """
    duration = n_samples / sr
    if duration <= CHUNK_LENGTH + 1e-9:
        return [Window(0.0, duration)]
    starts = list(np.arange(0.0, duration - CHUNK_LENGTH + 1e-9, hop))
    tail = duration - (starts[-1] + CHUNK_LENGTH)
    if tail >= min_last:
        starts.append(duration - CHUNK_LENGTH)
    if max_windows is not None and len(starts) > max_windows >= 1:
        pick = np.unique(np.round(np.linspace(0, len(starts) - 1, max_windows)).astype(int))
        starts = [starts[i] for i in pick]
    return [Window(float(s), float(min(s + CHUNK_LENGTH, duration))) for s in starts]


FILLS = ("tile", "zeros")


def stack_windows(audio: np.ndarray, windows: list[Window], sr: int = SAMPLE_RATE, *,
                  fill: str = "tile") -> np.ndarray:
    """Gather windows into a batch, ``shape = (len(windows), N_SAMPLES)``, float32.

    A window with less than 30 s of audio (a short clip) is filled by repeating its audio
    (``fill="tile"``, the default; see the module docstring for why) or with zeros
    (``fill="zeros"``, as ``WhisperFeatureExtractor`` pads)."""
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    out = np.zeros((len(windows), N_SAMPLES), dtype=np.float32)
    for i, w in enumerate(windows):
        a = int(round(w.start * sr))
        seg = audio[a:a + N_SAMPLES]
        if fill == "tile" and 0 < seg.size < N_SAMPLES:
            out[i] = np.resize(seg, N_SAMPLES)
        else:
            out[i, : seg.size] = seg
    return out


def log_mel(batch: np.ndarray | torch.Tensor, n_mels: int = 80, device: str | torch.device = "cpu") -> torch.Tensor:
    """Whisper log-mel features of a batch of 30-s windows.

    Parameters
    ----------
    batch : shape = (n_windows, N_SAMPLES) float32 at 16 kHz (or (N_SAMPLES,) for one window)
    n_mels : 80 (whisper v1/v2) or 128 (large-v3), as the model's ``num_mel_bins`` says

    Returns
    -------
    torch.Tensor, shape = (n_windows, n_mels, N_FRAMES), float32
    """
    x = torch.as_tensor(batch, dtype=torch.float32, device=device)
    if x.ndim == 1:
        x = x[None]
    window = torch.hann_window(N_FFT, device=x.device)
    stft = torch.stft(x, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    # |X|^2, (B, 201, 3000): re*re + im*im is the same arithmetic as pow(2).sum(-1), bit for bit,
    # at a quarter of its time (a reduction over a size-2 axis is slow in torch: 37 -> 8 ms for 8 windows)
    ri = torch.view_as_real(stft[..., :-1])
    magnitudes = ri[..., 0] * ri[..., 0] + ri[..., 1] * ri[..., 1]
    mel = mel_filters(x.device, n_mels) @ magnitudes  # (B, n_mels, 3000)
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0
