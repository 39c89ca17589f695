"""BeatNet's beat and downbeat network (Heydari, Cwitkowitz and Duan, ISMIR 2021) without madmom,
for the measurements in README.md ("Its network as a cue in ours"); not used by the analyser.

The network (a 1-D convolution over each frame's spectrum, a linear layer, two LSTM layers of 150
cells, a 3-way softmax: beat, downbeat, neither) reads madmom's filtered log spectrogram and its
positive difference at 50 frames/s. Its weights are BeatNet's "model 1" (trained without GTZAN),
released by the authors under CC BY 4.0 in the ``BeatNet`` wheel (https://github.com/mjhydri/BeatNet),
which installs without its dependencies::

    pip download BeatNet==1.1.3 --no-deps -d /tmp/bn && unzip -o /tmp/bn/BeatNet-*.whl -d /tmp/bn

The front end is madmom's (``LogarithmicFilterbank``: 24 bands per octave from 30 Hz to 17 kHz,
area-normalised triangular filters; log10(1 + x); the positive difference to the frame whose
window overlaps by half), written again in numpy because madmom 0.16.1 does not build on current
Python without patches. Patched madmom and BeatNet in a scratch venv gave the same activations to
1e-5 on generator clips, a charted song and an LMMS song (their ``BeatNet.process`` keeps the LSTM
state between files: reset ``model.hidden`` and ``model.cell`` to compare).

    python benchmarks/beatnet_port.py /tmp/bn/BeatNet/models/model_1_weights.pt song.ogg
        # seconds, frames, the strongest beat and downbeat activations
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

NN_SR = 22050  # the network's sample rate (Hz)
FRAME = 1411  # 64 ms window (samples at NN_SR), as BeatNet: int(0.064 * 22050)
HOP = 441  # 20 ms (samples at NN_SR): 50 frames per second
FPS = NN_SR / HOP
BANDS_PER_OCTAVE, FMIN, FMAX, FREF = 24, 30.0, 17000.0, 440.0
DIFF_RATIO = 0.5


def _log_frequencies() -> np.ndarray:
    """madmom.audio.filters.log_frequencies(24, 30, 17000, 440): band centres (Hz)."""
    left = np.floor(np.log2(FMIN / FREF) * BANDS_PER_OCTAVE)
    right = np.ceil(np.log2(FMAX / FREF) * BANDS_PER_OCTAVE)
    f = FREF * 2.0 ** (np.arange(left, right) / BANDS_PER_OCTAVE)
    f = f[np.searchsorted(f, FMIN):]
    return f[:np.searchsorted(f, FMAX, "right")]


@lru_cache(maxsize=1)
def filterbank() -> np.ndarray:
    """(705, 136) float32: madmom's LogarithmicFilterbank on BeatNet's STFT bins (Nyquist dropped;
    madmom places the 705 bins at ``fftfreq(1410)``, which this keeps)."""
    n_bins = FRAME >> 1
    bin_f = np.fft.fftfreq(n_bins * 2, 1.0 / NN_SR)[:n_bins]
    f = _log_frequencies()
    idx = np.clip(bin_f.searchsorted(f), 1, n_bins - 1)
    idx -= f - bin_f[idx - 1] < bin_f[idx] - f  # the closest bin
    bins = np.unique(idx)
    fb = np.zeros((n_bins, len(bins) - 2), np.float32)
    for j, (start, center, stop) in enumerate(zip(bins[:-2], bins[1:-1], bins[2:])):
        if stop - start < 2:
            center, stop = start, start + 1
        data = np.concatenate([np.linspace(0, 1, center - start, endpoint=False),
                               np.linspace(1, 0, stop - center, endpoint=False)])
        fb[start:stop, j] = data / data.sum()  # one filter per band: madmom's max over overlaps is moot
    return fb


def _diff_frames() -> int:
    window = np.hanning(FRAME)
    sample = int(np.argmax(window > DIFF_RATIO * window.max()))
    return int(max(1, round((len(window) / 2 - sample) / HOP)))


def features(y: np.ndarray) -> np.ndarray:
    """(n_frames, 272) float32: the log filtered spectrogram (136 bands) and its positive
    difference of mono ``y`` (float, at NN_SR), one frame per HOP samples centred on sample
    i * HOP (zero-padded at the ends), n_frames = ceil(len(y) / HOP)."""
    y = np.asarray(y, np.float32)
    n = int(np.ceil(len(y) / HOP))
    half = FRAME // 2
    padded = np.concatenate([np.zeros(half, np.float32), y, np.zeros(FRAME + HOP, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP][:n]
    spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME).astype(np.float32), axis=1)[:, :FRAME >> 1])
    log = np.log10(1.0 + spec @ filterbank())
    d = _diff_frames()
    diff = np.zeros_like(log)
    diff[d:] = np.maximum(log[d:] - log[:-d], 0.0)
    return np.hstack([log, diff]).astype(np.float32)


@lru_cache(maxsize=1)
def _model(weights: str):
    import torch
    from torch import nn

    class BDA(nn.Module):
        """BeatNet's BDA network, with its parameter names (so its state dict loads as is)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(1, 2, 10)
            self.linear0 = nn.Linear(262, 150)
            self.lstm = nn.LSTM(150, 150, num_layers=2, batch_first=True)
            self.linear = nn.Linear(150, 3)

        def forward(self, x):  # x: (T, 272) -> (T, 3) class probabilities
            h = torch.nn.functional.max_pool1d(torch.relu(self.conv1(x[:, None, :])), 2)
            h = self.linear0(h.reshape(x.shape[0], -1))
            h, _ = self.lstm(h[None])
            return torch.softmax(self.linear(h[0]), dim=1)

    model = BDA()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def beat_activation(y: np.ndarray, sr: int, weights: str | Path) -> np.ndarray:
    """(n_frames, 2) float32: the network's P(beat) and P(downbeat) for mono ``y`` at ``sr`` Hz,
    frame i at i / FPS seconds (``weights``: BeatNet's ``model_1_weights.pt``). ``y`` is resampled
    to NN_SR when needed."""
    import torch

    if sr != NN_SR:
        import librosa

        y = librosa.resample(np.asarray(y, np.float32), orig_sr=sr, target_sr=NN_SR)
    x = torch.from_numpy(features(y))
    if x.shape[0] == 0:
        return np.zeros((0, 2), np.float32)
    with torch.inference_mode():
        return _model(str(weights))(x)[:, :2].numpy()


if __name__ == "__main__":
    import sys
    import time

    from genre_model.audio import decode_audio

    for path in sys.argv[2:]:
        t = time.perf_counter()
        a = beat_activation(decode_audio(path, target_sr=NN_SR)[0], NN_SR, sys.argv[1])
        print(f"{path}: {time.perf_counter() - t:.2f} s, {len(a)} frames, max P(beat) {a[:, 0].max():.3f}, "
              f"max P(downbeat) {a[:, 1].max():.3f}")
