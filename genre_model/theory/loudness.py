"""Loudness, peaks and clipping measured on the channels (ITU-R BS.1770-4 / EBU R128), streamed.

BS.1770 sums the K-weighted power of the channels: a stereo mix downmixed to mono reads 3-6 dB low
(and a 6-channel file far lower), and a channel clipped alone disappears in the average. So these
measurements run on the decoded channels, block by block while the file is decoded, and memory
holds one block whatever the length and the channel count.

* Integrated loudness (LUFS), loudness range (LU) and sample peaks: libebur128 through
  ``pyebur128``. Chosen over pyloudnorm 0.2 by measurement (benchmarks/bench_loudness.py): both
  agree with ffmpeg's ``ebur128`` filter to 0.05 LU on integrated loudness, but pyloudnorm needs
  the whole track in memory as float64 and is about 2x slower; libebur128 streams.
* True peak: 4x oversampling (BS.1770-4 Annex 2) with soxr's streaming resampler, per channel.
  libebur128's own true-peak mode would do the same but took 0.75 s of a 4-minute stereo song
  against 0.36 s for soxr (measured here), for the same reading to 0.05 dB.
* Clipping: runs of at least :data:`CLIP_RUN` consecutive samples at or above :data:`CLIP_LEVEL`
  of full scale, counted per channel (a run may span two blocks).

Channel weights are libebur128's: 1, 2, 3 channels weigh 1.0 (a mono file is not taken as
dual-mono, as in ffmpeg), 4 = L R Ls Rs, 5 = L R C Ls Rs, 6 = L R C LFE Ls Rs (the LFE channel is
left out, surrounds weigh 1.41), 8 = 7.1 (L R C LFE Ls Rs Lb Rb); other channels beyond the
sixth weigh 1.0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLIP_LEVEL = 0.999  # |sample| at or above this counts as full scale
CLIP_RUN = 3  # consecutive full-scale samples that make a clip (one full-scale sample is a peak)
_NAMES = {1: ["mono"], 2: ["L", "R"], 4: ["L", "R", "Ls", "Rs"], 5: ["L", "R", "C", "Ls", "Rs"],
          6: ["L", "R", "C", "LFE", "Ls", "Rs"], 8: ["L", "R", "C", "LFE", "Ls", "Rs", "Lb", "Rb"]}


def db(x: float | np.ndarray, floor: float = 1e-10):
    """20 log10 of a linear amplitude, floored at ``floor`` (-200 dB)."""
    return 20 * np.log10(np.maximum(x, floor))


def channel_names(n: int) -> list[str]:
    return _NAMES.get(n, [f"ch{i + 1}" for i in range(n)])


@dataclass
class ChannelLevels:
    """One channel's levels over the whole track."""

    name: str  # "L", "R", "C", "LFE", ... ("mono", "ch7" where the layout is unknown)
    rms_dbfs: float  # unweighted RMS over the whole track
    sample_peak_dbfs: float
    true_peak_dbtp: float
    clipped_samples: int  # samples inside runs of >= CLIP_RUN full-scale samples


@dataclass
class Loudness:
    """BS.1770 measurements of the audio at its own rate, over all its channels."""

    integrated_lufs: float | None  # None: shorter than one 400-ms block, or silent
    loudness_range_lu: float | None  # None: too short for two 3-s blocks above the gates
    sample_peak: float  # linear, the highest of the channels
    true_peak: float  # linear, the highest of the channels
    mean_square: float  # linear, the channels' mean
    clipped_samples: int  # over all channels
    n_frames: int  # samples per channel
    channels: list[ChannelLevels] = field(default_factory=list)
    reason: str = ""


class _ClipCounter:
    """Counts samples in runs of >= ``CLIP_RUN`` full-scale samples, block after block; a run may
    cross a block boundary. One counter per channel."""

    def __init__(self):
        self.run = 0  # length of the run still open at the end of the last block
        self.count = 0

    def add(self, x: np.ndarray) -> None:
        hot = np.abs(x) >= CLIP_LEVEL
        if not hot.any():
            self._close()
            return
        edges = np.diff(np.r_[0, hot.astype(np.int8), 0])
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs = ends - starts
        if starts[0] == 0:  # continues the open run
            runs[0] += self.run
        else:
            self._close()
        self.run = 0
        if ends[-1] == x.size:  # still open: decided with the next block
            self.run = int(runs[-1])
            runs = runs[:-1]
        self.count += int(runs[runs >= CLIP_RUN].sum())

    def _close(self) -> None:
        if self.run >= CLIP_RUN:
            self.count += self.run
        self.run = 0

    def total(self) -> int:
        self._close()
        return self.count


def clipped_sample_count(y: np.ndarray) -> int:
    """Samples of ``y`` (shape = (n_samples,)) inside runs of >= ``CLIP_RUN`` full-scale samples."""
    c = _ClipCounter()
    c.add(np.asarray(y))
    return c.total()


class ChannelMeter:
    """Streams decoded blocks into BS.1770 loudness, peaks and clipping per channel.

    Pass it to :func:`genre_model.audio.decode_audio` as ``observe`` (it is called with each block,
    shape = (n_frames, n_channels) float32, and the rate), then read :meth:`result`.

    It measures inline: libebur128 (pyebur128) holds the GIL, so a measuring thread beside the
    decoder saved only 0.6 s of 10.8 s on a 15-min stereo file (measured); not worth a thread.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget every block (a decoder that starts over calls this)."""
        self.state = None
        self.sr = 0
        self.n = 0

    def _start(self, channels: int, sr: int) -> None:
        import pyebur128 as ebu
        import soxr

        M = ebu.MeasurementMode
        self.sr, self.channels = int(sr), channels
        self.state = ebu.R128State(channels, self.sr, M.MODE_I | M.MODE_LRA | M.MODE_SAMPLE_PEAK)
        if channels == 8:  # 7.1: the back pair are surrounds too (libebur128 leaves them unused)
            self.state.set_channel(6, ebu.ChannelType.LEFT_SURROUND)
            self.state.set_channel(7, ebu.ChannelType.RIGHT_SURROUND)
        elif channels > 6:
            for c in range(6, channels):
                self.state.set_channel(c, ebu.ChannelType.LEFT)
        self.tp_streams = [soxr.ResampleStream(self.sr, 4 * self.sr, 1, dtype="float32", quality="HQ")
                           for _ in range(channels)]
        self.tp = np.zeros(channels)
        self.sum_sq = np.zeros(channels)
        self.clips = [_ClipCounter() for _ in range(channels)]

    def __call__(self, block: np.ndarray, sr: int) -> None:
        if block.ndim == 1:
            block = block[:, None]
        if self.state is None:
            self._start(block.shape[1], sr)
        elif block.shape[1] != self.channels or int(sr) != self.sr:
            raise ValueError(f"a block of {block.shape[1]} channels at {sr} Hz after {self.channels} at {self.sr}")
        if not block.shape[0]:
            return
        block = np.ascontiguousarray(block)
        self.state.add_frames(block.ravel(), block.shape[0])
        self.n += block.shape[0]
        self.sum_sq += np.einsum("ij,ij->j", block, block, dtype=np.float64)
        for c in range(self.channels):
            x = np.ascontiguousarray(block[:, c])
            up = self.tp_streams[c].resample_chunk(x)
            if up.size:
                self.tp[c] = max(self.tp[c], float(np.abs(up).max()))
            self.clips[c].add(x)

    def result(self) -> Loudness:
        """The measurements over every block seen (a meter that saw nothing reports silence)."""
        import pyebur128 as ebu

        if self.state is None:
            return Loudness(None, None, 0.0, 0.0, 0.0, 0, 0, [], "no audio")
        for c, stream in enumerate(self.tp_streams):  # flush the resamplers' delay lines
            up = stream.resample_chunk(np.zeros(0, np.float32), last=True)
            if up.size:
                self.tp[c] = max(self.tp[c], float(np.abs(up).max()))
        peaks = np.array([ebu.get_sample_peak(self.state, c) for c in range(self.channels)])
        self.tp = np.maximum(self.tp, peaks)  # the true peak is never below the sample peak
        reason = ""
        lufs = float(ebu.get_loudness_global(self.state)) if self.n >= 0.4 * self.sr else float("-inf")
        if not np.isfinite(lufs):
            reason = ("integrated loudness not measurable: shorter than one 400-ms block" if self.n < 0.4 * self.sr
                      else "integrated loudness not measurable: every block is under the -70 LUFS gate")
        try:
            lra = float(ebu.get_loudness_range(self.state))
        except (ValueError, RuntimeError):
            lra = float("nan")
        ms = self.sum_sq / max(self.n, 1)
        clips = [c.total() for c in self.clips]
        levels = [ChannelLevels(name, round(float(db(np.sqrt(m))), 2), round(float(db(p)), 2), round(float(db(t)), 2), k)
                  for name, m, p, t, k in zip(channel_names(self.channels), ms, peaks, self.tp, clips)]
        return Loudness(round(lufs, 2) if np.isfinite(lufs) else None,
                        round(lra, 2) if np.isfinite(lra) and self.n >= 3 * self.sr else None,
                        float(peaks.max()), float(self.tp.max()), float(ms.mean()), int(sum(clips)), self.n,
                        levels, reason)


def measure_loudness(y: np.ndarray, sr: int, block: int = 1 << 16) -> Loudness:
    """:class:`ChannelMeter` over samples already in memory.

    Parameters
    ----------
    y : shape = (n_samples,) or (n_samples, n_channels), float, at ``sr`` Hz
    """
    meter = ChannelMeter()
    y = np.asarray(y, dtype=np.float32)
    for i in range(0, max(y.shape[0], 1), block):
        meter(y[i:i + block], sr)
    return meter.result()
