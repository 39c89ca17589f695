"""Intermediate representations shared by every analyser: computed once per track.

All musical analyses run on mono audio at :data:`SR` = 22 050 Hz. Frame rate is
``SR / HOP`` = 43.07 frames/s (hop 23.2 ms).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

SR = 22050
HOP = 512  # samples between frames (23.2 ms)
N_FFT = 2048  # 92.9 ms analysis window (onsets, timbre)
CHROMA_DECIMATION = 4  # chroma is computed at SR / 4 = 5.5 kHz
CHROMA_N_FFT = 2048  # at 5.5 kHz: 371 ms, 2.7 Hz bins, enough to separate semitones down to ~C3
N_MELS = 128
TUNING_FRAMES = 1500  # spectrum frames the tuning estimate looks at, at most


@dataclass
class Signal:
    """A track and its lazily computed, shared representations.

    Attributes
    ----------
    y : np.ndarray, shape = (n_samples,), float32 at ``SR``
    """

    y: np.ndarray
    sr: int = SR
    hop: int = HOP
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> float:
        return self.y.size / self.sr

    @cached_property
    def stft_mag(self) -> np.ndarray:
        """|STFT|, shape = (1 + N_FFT/2, n_frames)."""
        import librosa

        return np.abs(librosa.stft(self.y, n_fft=N_FFT, hop_length=self.hop))

    @property
    def n_frames(self) -> int:
        return self.stft_mag.shape[1]

    @cached_property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(N_FFT, 1 / self.sr)

    @cached_property
    def mel_db(self) -> np.ndarray:
        """Log-power mel spectrogram in dB, shape = (N_MELS, n_frames)."""
        import librosa

        mel = librosa.feature.melspectrogram(S=self.stft_mag ** 2, sr=self.sr, n_mels=N_MELS)
        return librosa.power_to_db(mel, ref=np.max)

    @cached_property
    def onset_env(self) -> np.ndarray:
        """Spectral-flux onset strength (librosa's, from the shared mel), shape = (n_frames,)."""
        import librosa

        return librosa.onset.onset_strength(S=self.mel_db, sr=self.sr, hop_length=self.hop)

    @cached_property
    def bass_onset_env(self) -> np.ndarray:
        """Onset strength of the mel bands below ~250 Hz (kick drum, bass notes)."""
        import librosa

        low = librosa.mel_frequencies(N_MELS + 2, fmax=self.sr / 2)[1:-1] < 250
        return librosa.onset.onset_strength(S=self.mel_db[low], sr=self.sr, hop_length=self.hop)

    @cached_property
    def _harmony_spectrum(self) -> np.ndarray:
        """|STFT| of a copy decimated 4x (5.5 kHz, 2048-point window = 371 ms, 2.7 Hz bins, hop
        128 = the same frame times as the 22 kHz analyses), shape = (1 + CHROMA_N_FFT/2, n_frames).
        Harmony lives below ~2.1 kHz, so the long window costs a quarter of a 22-kHz one."""
        import librosa
        import soxr

        sr4 = self.sr / CHROMA_DECIMATION
        y4 = soxr.resample(self.y, self.sr, sr4)
        S = np.abs(librosa.stft(y4, n_fft=CHROMA_N_FFT, hop_length=self.hop // CHROMA_DECIMATION))
        S = S[:, : self.n_frames]
        if S.shape[1] < self.n_frames:
            S = np.pad(S, ((0, 0), (0, self.n_frames - S.shape[1])))
        return S

    @cached_property
    def tuning(self) -> float:
        """Deviation of the music's tuning from A4 = 440 Hz, in fractions of a semitone (-0.5..0.5;
        x 100 = cents): librosa's ``estimate_tuning`` (parabolic-interpolated spectral peaks of
        the long-window spectrum, above its median, 65 Hz-2.1 kHz, histogram at 1-cent
        resolution) over at most :data:`TUNING_FRAMES` frames. 0.0 where nothing is pitched."""
        import librosa

        S = self._harmony_spectrum
        if not S.any():
            return 0.0
        # a global property: at most TUNING_FRAMES frames spread over the track (the 4-min song's
        # 10 000 frames cost 0.45 s; 1500 frames give the same cents to +-1 on real tracks)
        S = S[:, :: max(1, S.shape[1] // TUNING_FRAMES)]
        t = librosa.estimate_tuning(S=S, sr=self.sr / CHROMA_DECIMATION, n_fft=CHROMA_N_FFT, fmin=65.0,
                                    fmax=2100.0, resolution=0.01, bins_per_octave=12)
        return float(t) if np.isfinite(t) else 0.0

    @cached_property
    def _chroma_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """(harmony chroma, bass chroma): each band of :attr:`_harmony_spectrum`, in power, folded
        to chroma with librosa's chroma filter bank over its own bins only, the bank shifted by
        :attr:`tuning` (a track 40 cents sharp would otherwise spread every note over two bins)."""
        import librosa

        sr4 = self.sr / CHROMA_DECIMATION
        S = self._harmony_spectrum ** 2
        f = np.fft.rfftfreq(CHROMA_N_FFT, 1 / sr4)
        fb = librosa.filters.chroma(sr=sr4, n_fft=CHROMA_N_FFT, tuning=self.tuning, norm=None)
        out = []
        for lo, hi in ((65.0, 2100.0), (30.0, 200.0)):  # harmony; bass line
            band = (f >= lo) & (f <= hi)
            B = S[band]
            B = np.log1p(1000 * B / (B.max() + 1e-12))  # log compression evens out loud partials
            c = fb[:, band] @ B
            peak = c.max(axis=0, keepdims=True)
            out.append(np.where(peak > 1e-6, c / np.maximum(peak, 1e-12), 0.0))
        return out[0], out[1]

    @property
    def chroma(self) -> np.ndarray:
        """Chroma of 65 Hz-2.1 kHz from a long-window (371 ms) STFT, shape = (12, n_frames),
        C first, each frame normalised to max 1 (silent frames stay 0)."""
        return self._chroma_pair[0]

    @property
    def bass_chroma(self) -> np.ndarray:
        """Chroma of the bass register (30-200 Hz), same shape and normalisation as ``chroma``."""
        return self._chroma_pair[1]

    @cached_property
    def rms(self) -> np.ndarray:
        """Frame RMS (linear), shape = (n_frames,)."""
        import librosa

        return librosa.feature.rms(S=self.stft_mag, frame_length=N_FFT)[0]

    def frames_to_time(self, frames) -> np.ndarray:
        return np.asarray(frames) * self.hop / self.sr

    def time_to_frames(self, times) -> np.ndarray:
        return np.round(np.asarray(times) * self.sr / self.hop).astype(int)
