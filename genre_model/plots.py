"""Pictures: the Whisper mel spectrogram with beats and sections, a chromagram with chords and
key, and the genre timeline. One look throughout; every function returns a matplotlib Figure.
"""
from __future__ import annotations

import numpy as np

STYLE = {
    "figure.facecolor": "#0f1117", "axes.facecolor": "#0f1117", "axes.edgecolor": "#3a3f4b",
    "axes.labelcolor": "#d5d8e0", "xtick.color": "#a9adb8", "ytick.color": "#a9adb8",
    "text.color": "#e8eaf0", "font.size": 9, "axes.titlesize": 11, "axes.titleweight": "bold",
}
CMAP = "magma"
ACCENT = "#4fd1c5"
SECTION = "#f6ad55"
MAX_COLUMNS = 2400  # images wider than this are averaged down (a 4-min song has 24 000 mel frames)


def _fig(height: float = 3.2, width: float = 10.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height), dpi=100, layout="constrained")
    fig.patch.set_facecolor(STYLE["figure.facecolor"])
    ax.set_facecolor(STYLE["axes.facecolor"])
    ax.xaxis.label.set_color(STYLE["axes.labelcolor"])
    ax.yaxis.label.set_color(STYLE["axes.labelcolor"])
    ax.tick_params(colors=STYLE["xtick.color"])
    for s in ax.spines.values():
        s.set_color(STYLE["axes.edgecolor"])
    ax.title.set_color(STYLE["text.color"])
    return fig, ax


def _shrink(img: np.ndarray) -> np.ndarray:
    n = img.shape[1]
    if n <= MAX_COLUMNS:
        return img
    k = int(np.ceil(n / MAX_COLUMNS))
    m = n // k * k
    return img[:, :m].reshape(img.shape[0], -1, k).mean(axis=2)


def mel_spectrogram(y16k: np.ndarray, *, n_mels: int = 80, beats=(), downbeats=(), segments=(), title=None):
    """Whisper's log-mel of the whole track (time in s, frequency in Hz on the mel axis), with
    beats (thin), downbeats (bright) and section boundaries with their labels.

    Parameters
    ----------
    y16k : shape = (n_samples,), float32 at 16 kHz
    segments : iterable of objects with ``start``, ``end``, ``label`` (seconds)
    """
    import librosa
    import torch
    import whisper

    mel = whisper.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(y16k)), n_mels=n_mels).numpy()
    duration = y16k.size / 16000
    fig, ax = _fig()
    ax.imshow(_shrink(mel), origin="lower", aspect="auto", cmap=CMAP, extent=[0, duration, 0, n_mels],
              interpolation="nearest")
    hz = librosa.mel_frequencies(n_mels + 2, fmax=8000)[1:-1]
    ticks = [100, 250, 500, 1000, 2000, 4000, 8000]
    ax.set_yticks([int(np.argmin(np.abs(hz - t))) for t in ticks], [f"{t / 1000:g}k" if t >= 1000 else str(t) for t in ticks])
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    for b in beats:
        ax.axvline(b, color="white", alpha=0.18, lw=0.5)
    for b in downbeats:
        ax.axvline(b, color=ACCENT, alpha=0.55, lw=0.8)
    for s in segments:
        ax.axvline(s.start, color=SECTION, lw=1.6)
        ax.text(s.start + 0.2, n_mels - 2, s.label, color=SECTION, fontsize=11, fontweight="bold", va="top")
    ax.set_title(title or "Mel spectrogram (what Whisper hears)")
    ax.set_xlim(0, duration)
    return fig


def chromagram(chroma: np.ndarray, times: np.ndarray, *, key=None, chords=(), title=None):
    """Chromagram (pitch class over time) with the chord labels and the key's scale marked.

    Parameters
    ----------
    chroma : shape = (12, n_frames), C first; times : frame times in s, shape = (n_frames,)
    key : a KeyResult or None; chords : objects with ``start``, ``end``, ``label``
    """
    from .theory.key import PITCH_NAMES

    fig, ax = _fig(height=3.0)
    duration = float(times[-1]) if len(times) else 1.0
    ax.imshow(_shrink(chroma), origin="lower", aspect="auto", cmap=CMAP, extent=[0, duration, -0.5, 11.5],
              interpolation="nearest", vmin=0, vmax=1)
    labels = list(PITCH_NAMES)
    if key is not None and getattr(key, "tonic", None):
        t = PITCH_NAMES.index(key.tonic)
        scale = [0, 2, 4, 5, 7, 9, 11] if key.mode == "major" else [0, 2, 3, 5, 7, 8, 10]
        in_scale = {(t + s) % 12 for s in scale}
        labels = [f"{n} •" if i in in_scale else n for i, n in enumerate(PITCH_NAMES)]
    ax.set_yticks(range(12), labels)
    shown = [c for c in chords if c.label != "N" and c.end - c.start > 0.4][:60]
    for c in shown:
        ax.axvline(c.start, color="white", alpha=0.25, lw=0.6)
        ax.text(c.start + 0.05, 11.9, c.label.replace(":maj", "").replace(":min", "m"), color=ACCENT,
                fontsize=7, va="bottom", clip_on=True)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, duration)
    ax.set_title(title or (f"Chroma and chords — key {key.label}" if key is not None and key.label else "Chroma and chords"))
    return fig


def genre_timeline(prediction, top: int = 4, title=None):
    """How the genre moves along the song: one line per leading genre, one point per window."""
    fig, ax = _fig(height=2.8)
    mids = [(w.start + w.end) / 2 for w in prediction.timeline]
    leaders = [t.label for t in prediction.top[:top]]
    colors = ["#4fd1c5", "#f6ad55", "#b794f4", "#fc8181", "#68d391", "#63b3ed"]
    for i, label in enumerate(leaders):
        ys = [w.probabilities[label] for w in prediction.timeline]
        ax.plot(mids, ys, marker="o", lw=2, color=colors[i % len(colors)], label=label)
    for w in prediction.timeline:
        ax.axvspan(w.start, w.end, color="white", alpha=0.03)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(prediction.duration_s, 1))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    leg = ax.legend(loc="upper right", frameon=False, ncols=len(leaders))
    for t in leg.get_texts():
        t.set_color(STYLE["text.color"])
    ax.set_title(title or "Genre along the song (30-s windows)")
    return fig


def to_png(fig, path) -> str:
    fig.savefig(path, facecolor=fig.get_facecolor())
    return str(path)
