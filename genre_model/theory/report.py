"""The music-theory report: every analyser run once over shared representations."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from ..audio import AudioInput, decode_audio, resample
from .chords import ChordResult, chord_name, estimate_harmony, roman
from .dynamics import DynamicsResult, estimate_dynamics
from .loudness import ChannelMeter, Loudness, measure_loudness
from .key import KeyResult
from .meter import MeterResult, estimate_meter
from .mood import MoodResult, estimate_mood
from .quality import QualityResult, estimate_quality
from .signal import SR, Signal
from .structure import StructureResult, estimate_structure
from .tempo import TempoResult, estimate_tempo
from .timbre import TimbreResult, estimate_timbre

MIN_THEORY_DURATION = 0.25  # s; shorter input is refused, longer gets "not determinable" where true
ND = "not determinable"


@dataclass
class TheoryReport:
    """Everything the heuristics say about a track. Serialises with :meth:`to_dict`/:meth:`to_json`."""

    duration_s: float
    sample_rate: int
    key: KeyResult
    tempo: TempoResult
    meter: MeterResult
    chords: ChordResult
    structure: StructureResult
    timbre: TimbreResult
    dynamics: DynamicsResult
    quality: QualityResult
    mood: MoodResult
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def summary(self) -> dict[str, str]:
        """One readable line per topic (what a dashboard shows)."""
        k, t, m, c, d, q = self.key, self.tempo, self.meter, self.chords, self.dynamics, self.quality
        return {
            "Key": (f"{k.label} (confidence {k.confidence:.0%})" + (f"; {k.note}" if k.note else "")
                    if k.label else f"{ND}: {k.reason}"),
            "Tempo": "; ".join(filter(None, [f"{t.bpm:.0f} BPM (clarity {t.confidence:.0%}"
                                             + "".join(f"; or {a:.0f}" for a in t.alternatives) + ")", t.change_text()]))
                     if t.bpm else f"{ND}: {t.reason}",
            "Meter": (f"{m.time_signature} (confidence {m.confidence:.0%}" + "".join(f"; or {a}" for a in m.alternatives) + ")"
                      if m.time_signature else f"{ND}: {m.reason}"),
            "Chords": (" - ".join(c.progression) + f"  ({' '.join(c.progression_chords)})" if c.progression
                       else c.reason or f"{c.distinct_chords} distinct chords"),
            "Structure": self.structure.form or ND,
            "Timbre": f"{self.timbre.brightness}, centroid {self.timbre.spectral_centroid_hz.mean:.0f} Hz",
            "Energy": f"{d.energy} (RMS {d.rms_db:.1f} dBFS, {d.onset_rate:.1f} onsets/s)",
            "Loudness": (f"{d.integrated_lufs:.1f} LUFS, LRA {d.loudness_range_lu if d.loudness_range_lu is not None else '-'} LU, "
                         f"true peak {d.true_peak_dbtp:.1f} dBTP" if d.integrated_lufs is not None else f"{ND}"),
            "Quality": "; ".join(q.issues) if q.issues else "no problems found",
            "Mood": f"{self.mood.label} (heuristic)" if self.mood.label else f"{ND}: {self.mood.reason}",
        }

    def to_markdown(self) -> str:
        """A readable report: summary table, then details."""
        lines = [f"## Music-theory report ({self.duration_s:.1f} s)", "", "| | |", "|---|---|"]
        lines += [f"| **{k}** | {v} |" for k, v in self.summary().items()]
        k = self.key
        if k.candidates:
            lines += ["", "**Key candidates:** " + ", ".join(f"{l} ({p:.0%})" for l, p in k.candidates)]
        lines += [f"**Tuning:** {k.tuning_cents:+.0f} cents from A4 = 440 Hz (A4 = {440 * 2 ** (k.tuning_cents / 1200):.1f} Hz); "
                  "chroma, key and chords are read against it"]
        if self.tempo.bpm:
            lines += [f"**Beats:** {len(self.tempo.beats)} tracked" + ("; other likely tempo readings: "
                      + ", ".join(f"{a:g}" for a in self.tempo.alternatives) + " BPM" if self.tempo.alternatives else "")]
        if self.chords.segments:
            shown = [s for s in self.chords.segments if s.label != "N"][:16]
            lines += ["", "**Chords:** " + " · ".join(
                f"{chord_name(s.label)} ({roman(s.label, k)}) @{s.start:.1f}s" for s in shown)
                + (" …" if len(self.chords.segments) > 16 else "")]
        if self.structure.segments:
            lines += ["", "**Sections:** " + ", ".join(f"{s.label} {s.start:.0f}-{s.end:.0f}s" for s in self.structure.segments)]
        t, d, q = self.timbre, self.dynamics, self.quality
        lines += ["", "**Timbre (mean ± sd):** " + ", ".join([
            f"centroid {t.spectral_centroid_hz.mean:.0f}±{t.spectral_centroid_hz.std:.0f} Hz",
            f"rolloff {t.spectral_rolloff_hz.mean:.0f} Hz", f"bandwidth {t.spectral_bandwidth_hz.mean:.0f} Hz",
            f"flatness {t.spectral_flatness.mean:.3f}", f"ZCR {t.zero_crossing_rate.mean:.3f}"])]
        lines += [f"**Dynamics:** sample peak {d.sample_peak_dbfs:.1f} dBFS, PLR {d.plr_db if d.plr_db is not None else '-'} dB, "
                  f"crest factor {d.crest_factor_db:.1f} dB, dynamic range {d.dynamic_range_db:.1f} dB"]
        if len(d.channels) > 1:
            lines += ["**Channels:** " + "; ".join(
                f"{c.name} RMS {c.rms_dbfs:.1f} dBFS, peak {c.sample_peak_dbfs:.1f} dBFS, true peak {c.true_peak_dbtp:.1f} dBTP"
                + (f", {c.clipped_samples} clipped" if c.clipped_samples else "") for c in d.channels[:8])
                + (f"; … ({len(d.channels)} channels)" if len(d.channels) > 8 else "")]
        lines += [f"**Quality (estimates):** noise floor {q.noise_floor_db:.0f} dBFS, loud level {q.loud_level_db:.0f} dBFS, "
                  f"SNR estimate {q.snr_estimate_db:.0f} dB, bandwidth {q.bandwidth_hz / 1000:.1f} of {q.nyquist_hz / 1000:.1f} kHz, "
                  f"clipped samples {q.clipped_samples}, digital silence {q.silent_s:.1f} s (left out of the levels)"]
        mi = self.mood.inputs
        lines += [f"**Mood** is a heuristic: valence {self.mood.valence:+.2f}, arousal {self.mood.arousal:+.2f} from "
                  + ", ".join(f"{k}={v}" for k, v in mi.items())]
        return "\n".join(lines)


def analyze(audio: AudioInput | np.ndarray, sr: int | None = None, *, max_duration: float | None = None) -> TheoryReport:
    """Run every analyser on a track.

    Parameters
    ----------
    audio : path, bytes, ``(sample_rate, array)`` pair, or a mono/multichannel array at ``sr``
    sr : sample rate of an array ``audio`` (default 16 kHz)

    Returns
    -------
    TheoryReport; topics that cannot be determined (silence, noise, a lone tone) say so.
    """
    t0 = time.perf_counter()
    y_native, sr_native, loudness = decode_measured(audio, sr=sr, max_duration=max_duration)
    report, _ = analyze_signal(y_native, sr_native, loudness=loudness, t0=t0)
    return report


def decode_measured(audio: AudioInput | np.ndarray, *, sr: int | None = None, max_duration: float | None = None,
                    min_duration: float = MIN_THEORY_DURATION) -> tuple[np.ndarray, int, Loudness]:
    """Decode for the report: mono samples at their own rate, plus the loudness, peaks and clipping
    of the channels, measured block by block while decoding (see :mod:`.loudness`).

    Returns
    -------
    (y, rate, loudness): y.shape = (n_samples,) float32; ``loudness`` for :func:`analyze_signal`
    """
    meter = ChannelMeter()
    kw = {"max_duration": max_duration} if max_duration else {}
    y, rate = decode_audio(audio, sr=sr, target_sr=None, min_duration=min_duration, allow_silent=True,
                           observe=meter, **kw)
    return y, rate, meter.result()


def analyze_signal(y_native: np.ndarray, sr_native: int, *, loudness: Loudness | None = None,
                   t0: float | None = None) -> tuple[TheoryReport, Signal]:
    """:func:`analyze` on decoded mono samples at their own rate; also returns the shared
    :class:`Signal` (chroma, beats' onset envelope...) so pictures can reuse it.

    ``loudness``: the channels' measurements from :func:`decode_measured`; without it loudness,
    peaks and clipping are measured on the mono samples (a stereo mix then reads 3-6 LU low)."""
    t0 = time.perf_counter() if t0 is None else t0
    # loudness and quality work on the native-rate samples only: a second thread does them while
    # this one runs the 22 kHz analyses (their numpy/scipy/soxr calls release the GIL)
    with ThreadPoolExecutor(1, thread_name_prefix="theory-native") as pool:
        def native_work():
            ld = loudness or measure_loudness(y_native, sr_native)
            return ld, estimate_quality(y_native, sr_native, ld)

        native = pool.submit(native_work)
        return _analyze_resampled(y_native, sr_native, native, t0)


def _analyze_resampled(y_native: np.ndarray, sr_native: int, native, t0: float) -> tuple[TheoryReport, Signal]:
    sig = Signal(resample(y_native, sr_native, SR))
    tempo = estimate_tempo(sig)
    meter = estimate_meter(sig, tempo)
    chords, key = estimate_harmony(sig, tempo.beats, meter.downbeats)
    key.tuning_cents = round(100 * sig.tuning, 1)
    structure = estimate_structure(sig, tempo.beats)
    timbre = estimate_timbre(sig)
    loudness, quality = native.result()
    dynamics = estimate_dynamics(sig, y_native, sr_native, loudness)
    mood = estimate_mood(key.mode, tempo.bpm, timbre.spectral_centroid_hz.mean, dynamics.rms_db, dynamics.onset_rate)
    report = TheoryReport(round(y_native.size / sr_native, 3), sr_native, key, tempo, meter, chords, structure,
                          timbre, dynamics, quality, mood, round(time.perf_counter() - t0, 4))
    return report, sig
