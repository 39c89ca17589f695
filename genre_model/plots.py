"""Pictures: the Whisper mel spectrogram with beats and a lane of section letters, a chromagram
with a lane of chord names and the key's scale marked, and the genre timeline.

Every function returns a matplotlib ``Figure`` built with the object API (no pyplot, no global
rc state: safe on the app's worker threads, freed when dropped). The look matches the app's light
theme (Gradio's Soft theme, teal): white paper, slate text, teal and orange marks.
"""
from __future__ import annotations

import numpy as np

PAPER = "#ffffff"
INK = "#1f2937"  # titles, labels
MUTED = "#6b7280"  # ticks, notes
EDGE = "#d1d5db"
CMAP = "magma"
ACCENT = "#0d9488"  # teal: downbeats, chords
SECTION = "#ea580c"  # orange: sections
LANE_COLORS = ("#ccfbf1", "#fde68a", "#e9d5ff", "#fecaca", "#bbf7d0", "#bfdbfe", "#fed7aa", "#f5d0fe")
MAX_COLUMNS = 2400  # images wider than this are averaged down (a 4-min song has 24 000 mel frames)


def _style(fig, axes) -> None:
    fig.set_facecolor(PAPER)
    for ax in axes:
        ax.set_facecolor(PAPER)
        ax.tick_params(colors=MUTED, labelsize=8)
        ax.xaxis.label.set_color(INK)
        ax.yaxis.label.set_color(INK)
        ax.title.set_color(INK)
        for s in ax.spines.values():
            s.set_color(EDGE)


def _fig(height: float = 3.2, width: float = 10.0, lane: bool = False):
    """A Figure with one axes (or, with ``lane``, a thin label lane above it sharing x).
    Returns (fig, ax) or (fig, (lane_ax, ax))."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    if lane:
        top, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 7], gridspec_kw={"hspace": 0.02})
        top.set_yticks([])
        top.tick_params(labelbottom=False, length=0)
        _style(fig, (top, ax))
        return fig, (top, ax)
    ax = fig.subplots()
    _style(fig, (ax,))
    return fig, ax


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=11, fontweight="bold", color=INK, loc="left")


def _shrink(img: np.ndarray) -> np.ndarray:
    n = img.shape[1]
    if n <= MAX_COLUMNS:
        return img
    k = int(np.ceil(n / MAX_COLUMNS))
    m = n // k * k
    return img[:, :m].reshape(img.shape[0], -1, k).mean(axis=2)


def label_lane(ax, spans, duration: float, *, colors=None, char_fraction: float = 0.0075) -> int:
    """Draw ``(start, end, text)`` spans as coloured boxes with centred text in a lane axes.
    Text is left out of a span narrower than the text needs (``char_fraction`` of the width per
    character, for a 10-inch figure at 8 pt; its box stays), so labels never pile up. Returns how
    many labels were written."""
    ax.set_ylim(0, 1)
    ax.set_xlim(0, duration)
    palette = colors or LANE_COLORS
    keys = {t: i for i, t in enumerate(dict.fromkeys(t for _, _, t in spans))}
    written = 0
    for start, end, text in spans:
        ax.axvspan(start, end, ymin=0.08, ymax=0.92, color=palette[keys[text] % len(palette)], lw=0)
        ax.axvline(start, color=PAPER, lw=1.2)
        if end - start >= char_fraction * (len(text) + 1) * duration:
            ax.text((start + end) / 2, 0.5, text, ha="center", va="center", fontsize=8, color=INK,
                    fontweight="bold", clip_on=True)
            written += 1
    return written


def mel_spectrogram(y16k: np.ndarray, *, n_mels: int = 80, beats=(), downbeats=(), segments=(), title=None):
    """Whisper's log-mel of the whole track (time in s, frequency in Hz on the mel axis), with
    beats (thin, and a tick each under the time axis), downbeats (teal) and, in a lane above it,
    the sections with their letters.

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
    segments = list(segments)
    fig, (lane, ax) = _fig(height=3.6, lane=True)
    ax.imshow(_shrink(mel), origin="lower", aspect="auto", cmap=CMAP, extent=[0, duration, 0, n_mels],
              interpolation="nearest")
    hz = librosa.mel_frequencies(n_mels + 2, fmax=8000)[1:-1]
    ticks = [100, 250, 500, 1000, 2000, 4000, 8000]
    ax.set_yticks([int(np.argmin(np.abs(hz - t))) for t in ticks], [f"{t / 1000:g}k" if t >= 1000 else str(t) for t in ticks])
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    for b in beats:
        ax.axvline(b, color="white", alpha=0.15, lw=0.5)
    if len(beats):  # and a tick per beat under the time axis: the faint lines vanish where the picture is bright
        ax.set_xticks(list(beats), minor=True)
        ax.tick_params(axis="x", which="minor", length=5, width=0.8, color=INK, direction="out")
        lane.tick_params(axis="x", which="minor", length=0)  # (the lane shares the time axis)
    for b in downbeats:
        ax.axvline(b, color=ACCENT, alpha=0.6, lw=0.8)
    for s in segments[1:]:
        ax.axvline(s.start, color=SECTION, lw=1.6)
    if segments:
        label_lane(lane, [(s.start, s.end, s.label) for s in segments], duration)
        lane.set_ylabel("section", rotation=0, ha="right", va="center", fontsize=8, color=MUTED)
    _title(lane, title or "Mel spectrogram (what Whisper hears): sections, downbeats (teal) and beats")
    ax.set_xlim(0, duration)
    return fig


def _scale(key) -> dict[int, str]:
    """The key's scale, tonic first: pitch class -> its name spelled in the key."""
    from .theory.key import pitch_class, spell

    t = pitch_class(key.tonic)
    steps = [0, 2, 4, 5, 7, 9, 11] if key.mode == "major" else [0, 2, 3, 5, 7, 8, 10]
    return {(t + s) % 12: spell((t + s) % 12, key.tonic) for s in steps}


def chromagram(chroma: np.ndarray, times: np.ndarray, *, key=None, chords=(), title=None):
    """Chromagram (pitch class over time) with the chords named in a lane above it and the key's
    scale marked on the pitch axis (explained in the title).

    Parameters
    ----------
    chroma : shape = (12, n_frames), C first; times : frame times in s, shape = (n_frames,)
    key : a KeyResult or None; chords : objects with ``start``, ``end``, ``label``
    """
    from .theory.chords import chord_name
    from .theory.key import PITCH_NAMES

    fig, (lane, ax) = _fig(height=3.4, lane=True)
    duration = float(times[-1]) if len(times) else 1.0
    # shown smoothed over ~0.2 s: the constant-Q chroma's high bins move frame to frame (25-ms
    # windows), which reads as stripes; the analyses average it over beats themselves
    from scipy.ndimage import uniform_filter1d

    shown = uniform_filter1d(np.asarray(chroma, float), size=9, axis=1, mode="nearest")
    ax.imshow(_shrink(shown), origin="lower", aspect="auto", cmap=CMAP, extent=[0, duration, -0.5, 11.5],
              interpolation="nearest", vmin=0, vmax=1)
    labels = list(PITCH_NAMES)
    note = ""
    if key is not None and getattr(key, "tonic", None):
        scale = _scale(key)
        labels = [f"{scale[i]} ●" if i in scale else n for i, n in enumerate(PITCH_NAMES)]
        note = f" — key {key.label}; ● = in its scale ({' '.join(scale.values())})"
    ax.set_yticks(range(12), labels)
    ax.set_ylabel("pitch class")
    ax.set_xlabel("time (s)")
    spans = [(c.start, c.end, chord_name(c.label)) for c in chords if c.label != "N"]
    for start, _, _ in spans:
        ax.axvline(start, color="white", alpha=0.3, lw=0.6)
    if spans:
        label_lane(lane, spans, duration)
        lane.set_ylabel("chord", rotation=0, ha="right", va="center", fontsize=8, color=MUTED)
    _title(lane, title or f"Chroma and chords{note}")
    ax.set_xlim(0, duration)
    return fig


def genre_timeline(prediction, top: int = 4, title=None):
    """How the genre moves along the song: one line per leading genre, one point per window."""
    fig, ax = _fig(height=2.8)
    mids = [(w.start + w.end) / 2 for w in prediction.timeline]
    leaders = [t.label for t in prediction.top[:top]]
    colors = [ACCENT, SECTION, "#7c3aed", "#dc2626", "#16a34a", "#2563eb"]
    for i, label in enumerate(leaders):
        ys = [w.probabilities[label] for w in prediction.timeline]
        ax.plot(mids, ys, marker="o", lw=2, color=colors[i % len(colors)], label=label)
    for i, w in enumerate(prediction.timeline):
        ax.axvspan(w.start, w.end, color=EDGE, alpha=0.25 if i % 2 else 0.1, lw=0)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(prediction.duration_s, 1))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.legend(loc="upper right", frameon=False, ncols=len(leaders), labelcolor=INK)
    _title(ax, title or "Genre along the song (30-s windows)")
    return fig


def to_png(fig, path) -> str:
    fig.savefig(path, facecolor=fig.get_facecolor())
    return str(path)
