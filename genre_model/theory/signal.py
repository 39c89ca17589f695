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
CHROMA_N_FFT = 2048  # at 5.5 kHz: 371 ms, 2.7 Hz bins (the tuning estimate's frames)
CQT_BINS_PER_OCTAVE = 36  # three bins per semitone
# spectral flatness of the band above which a frame has no chroma: white noise reads 0.52-0.61 on the
# constant-Q bins, distorted metal mixes at most 0.23 (90th percentile), orchestral 0.15 (measured)
MAX_PITCHED_FLATNESS = 0.4
N_MELS = 128
# The onset envelope (librosa's spectral flux on centred frames, shifted by librosa to counter
# framing) peaks this long after a sound starts: beats tracked on noise clicks at 70-160 BPM and
# random sub-frame phases land 18.5-21.7 ms late (mean 19.5, 12 trains). Beat times subtract it.
ONSET_LAG_S = 0.0195
BEAT_LOW_HZ = 150.0  # the beats are tracked on the onsets below this too (Signal.beat_env)
SNARE_HZ = (1000.0, 4000.0)  # the band of Signal.snare_onset_env (a snare's crack)
SNARE_WEIGHT = 0.25  # its weight in Signal.beat_env
HPSS_KERNEL = 17  # median-filter length of the harmonic / percussive split (frames and mel bands)
TUNING_FRAMES = 600  # 371-ms frames the tuning estimate looks at, at most


def tuning_of_peaks(pitch: np.ndarray, mag: np.ndarray) -> float:
    """Tuning in fractions of a semitone (-0.5..0.5) from spectral peaks as ``librosa.piptrack``
    gives them (``pitch`` in Hz, 0 where there is no peak; ``mag`` their magnitudes; same shapes):
    of the peaks at or above the median magnitude (:func:`strong_peaks`, as librosa's ``estimate_tuning``),
    the deviations from the nearest equal-tempered semitone averaged on the circle (+0.5 is the
    same deviation as -0.5), weighted by magnitude. 0.0 without peaks.

    Not ``estimate_tuning``'s own answer, the top bin of a 1-cent histogram of the deviations,
    which jumps between the histogram's noisy peaks: on 24 real orchestral tracks (wesnoth-music)
    cut into 45-s excerpts, the excerpts read off their whole track by 5 cents at the 90th
    percentile and 20 at most (loyalists.ogg, first 45 s: -22 against -2) with that mode, by 2.5
    and 8.8 with this mean; played 30 cents sharp they read 30 +- 3 (90th percentile; 12 at most)
    against 30 +- 0.5 (4.1). (``benchmarks/bench_tuning.py`` prints both, and Essentia beside them.)"""
    pitch, mag = strong_peaks(pitch, mag)
    semitones = 12 * np.log2(pitch / 440.0)  # from A4; only the fraction counts on the circle
    z = np.sum(mag * np.exp(2j * np.pi * semitones))
    return float(np.angle(z) / (2 * np.pi)) if abs(z) > 0 else 0.0


def strong_peaks(pitch: np.ndarray, mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The peaks of ``librosa.piptrack``'s (pitch, magnitude) at or above the median magnitude of
    those with a pitch, as 1-D (pitch in Hz, magnitude); empty without peaks."""
    ok = pitch > 0
    keep = ok & (mag >= np.median(mag[ok])) if ok.any() else ok
    return pitch[keep], mag[keep]


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
    def tempo_env(self) -> np.ndarray:
        """Onset strength with the median over the mel bands instead of the mean (librosa's
        ``beat_track`` envelope), shape = (n_frames,). Only onsets that raise most bands count
        (note and drum attacks), not one band's vibrato or a single voice's slow swell: the tempo
        is read on it, the beats reported on :attr:`beat_env`. Reading the period, its octave features and
        librosa's estimate on it raised held-out tempo Acc1 (``benchmarks/bench_rhythm.py``) on
        rendered scores from 50.0 to 58.5 and on the generator's test clips from 75.0 to 93.8
        (charts level at 75.0; 61.0 and 91.7 with the fallback of ``tempo.octave_candidates``
        where this envelope has no pulse); tracking the beats on it as well, instead of on
        :attr:`onset_env`, lowered the scores' beat F from 66.5 to 61.6 (same readings, cached)."""
        import librosa

        return librosa.onset.onset_strength(S=self.mel_db, sr=self.sr, hop_length=self.hop, aggregate=np.median)

    def _mel_rows(self, above_hz: float, below_hz: float) -> np.ndarray:
        """Indices of the mel bands (rows of :attr:`mel_db`) centred from ``above_hz`` to below
        ``below_hz``."""
        import librosa

        centres = librosa.mel_frequencies(N_MELS + 2, fmax=self.sr / 2)[1:-1]
        return np.flatnonzero((centres >= above_hz) & (centres < below_hz))

    def _band_onset_env(self, below_hz: float) -> np.ndarray:
        """Onset strength of the mel bands centred below ``below_hz``, shape = (n_frames,)."""
        import librosa

        return librosa.onset.onset_strength(S=self.mel_db[self._mel_rows(0.0, below_hz)], sr=self.sr,
                                            hop_length=self.hop)

    @cached_property
    def bass_onset_env(self) -> np.ndarray:
        """Onset strength of the mel bands below ~250 Hz (kick drum, bass notes)."""
        return self._band_onset_env(250.0)

    @cached_property
    def low_onset_env(self) -> np.ndarray:
        """Onset strength of the mel bands below ``BEAT_LOW_HZ`` (the kick drum, the bass line's
        fundamentals), shape = (n_frames,)."""
        return self._band_onset_env(BEAT_LOW_HZ)

    @cached_property
    def snare_onset_env(self) -> np.ndarray:
        """Onset strength of the percussive part (librosa's median-filter HPSS of the mel power
        spectrogram) of the mel bands centred in ``SNARE_HZ``, shape = (n_frames,): a snare's
        crack, without the sustained notes' attacks of a voice or a woodwind in the same band;
        zeros when no band is centred there."""
        import librosa

        rows = self._mel_rows(*SNARE_HZ)
        if rows.size == 0:
            return np.zeros(self.mel_db.shape[1])
        from scipy.ndimage import median_filter

        # the split of the band's rows needs only HPSS_KERNEL // 2 rows beyond them (the percussive
        # median runs across bands): the same masks there as on the whole spectrogram. The split is
        # librosa.decompose.hpss's (median filters, Wiener soft mask of power 2) written out: the
        # same output to 0.0 on a 4-minute song, in 0.21 s where hpss took 0.72 s on these rows
        lo, hi = max(rows[0] - HPSS_KERNEL // 2, 0), min(rows[-1] + HPSS_KERNEL // 2 + 1, N_MELS)
        power = librosa.db_to_power(self.mel_db[lo:hi])
        harmonic = median_filter(power, size=(1, HPSS_KERNEL), mode="reflect")
        percussive = median_filter(power, size=(HPSS_KERNEL, 1), mode="reflect")
        percussive = power * librosa.util.softmask(percussive, harmonic, power=2.0, split_zeros=False)
        return librosa.onset.onset_strength(S=librosa.power_to_db(percussive[rows - lo] + 1e-10), sr=self.sr,
                                            hop_length=self.hop)

    @cached_property
    def beat_env(self) -> np.ndarray:
        """The envelope the beats are tracked on, shape = (n_frames,): :attr:`onset_env` plus the
        onset strength of the mel bands below ``BEAT_LOW_HZ`` (the kick drum, the bass line's
        fundamentals), each z-scored. On the spectral flux alone a hi-hat or cymbal on the
        off-beats can outweigh the kick and pull the tracker half a beat off for whole sections of
        a rock or metal song, and in a score without drums the upper voices' passing notes outweigh
        the bass's notes on the beat. Beat F with the tempo chosen as shipped
        (``benchmarks/bench_rhythm.py`` items, cached signals): rendered scores 67.7 -> 71.9
        (without drums 54.1 -> 60.8), charted metal songs 64.1 -> 69.5, the generator 96.3 ->
        96.5. Below 100, 120 or 150 Hz read alike on both; 250 Hz (:attr:`bass_onset_env`, where
        bass guitar notes on the off-beats weigh in) lifted the scores as much but not the charts
        (62.0). Found on the charts (one song on the off-beats in 12 of its 20 windows of 10 s, where
        the band above 4 kHz is 0.55-0.74 times as strong on the beats as between them and the
        band below 150 Hz 1.7-2.0 times as strong); the scores were not looked at before they
        were measured.

        A quarter of the percussive snare band's onsets (:attr:`snare_onset_env`, ``SNARE_WEIGHT``)
        is added: a kick played between the beats (a funk or rock groove) pulled the beats half a
        beat off, and in a groove the snare marks the beat where the kick is syncopated. Beat F
        with the tempo chosen as shipped (held out, same readings; without -> with it): generator
        94.2 -> 94.2, scores 71.6 -> 71.5, charts 71.1 -> 71.0, LMMS 75.9 -> 78.7 and 76.2 ->
        80.8, the Hydrogen drum grooves 69.5 -> 73.5. Chosen among 23 such sums and 5 committees on
        these rows and the tests (README, "Drum grooves"): half of it read every row at or above
        the kick band alone (LMMS 80.0 and 81.6) but put BWV 66.6 on woodwinds (the test of the
        bass above) at beat F 0.78, under the test's 0.8, as the band's whole spectrum did instead
        of its percussive part; taking the hi-hats away (above 5 kHz) moved a charted song's beats
        off its kick (0.98 -> 0.83)."""
        from .accents import zscore  # (accents imports this module)

        return zscore(self.onset_env) + zscore(self.low_onset_env) + SNARE_WEIGHT * zscore(self.snare_onset_env)

    @cached_property
    def _y4(self) -> np.ndarray:
        """The track decimated 4x (5.5 kHz): harmony lives below ~2.1 kHz."""
        import soxr

        return soxr.resample(self.y, self.sr, self.sr / CHROMA_DECIMATION)

    def _fit_frames(self, X: np.ndarray) -> np.ndarray:
        """``X`` (bins, frames) cut or zero-padded to :attr:`n_frames` columns."""
        X = X[:, : self.n_frames]
        return np.pad(X, ((0, 0), (0, self.n_frames - X.shape[1]))) if X.shape[1] < self.n_frames else X

    @cached_property
    def _harmony_stft(self) -> np.ndarray:
        """|STFT| of the 5.5-kHz copy, 2048-point window (371 ms, 2.7-Hz bins), hop 128 (the same
        frame times as the 22 kHz analyses), shape = (1 + CHROMA_N_FFT/2, n_frames)."""
        import librosa

        return self._fit_frames(np.abs(librosa.stft(self._y4, n_fft=CHROMA_N_FFT,
                                                    hop_length=self.hop // CHROMA_DECIMATION)))

    def tuning_peaks(self) -> tuple[np.ndarray, np.ndarray]:
        """The spectral peaks the tuning is read from: ``librosa.piptrack``'s (pitch in Hz, 0 where
        there is no peak; magnitude), shape = (1 + CHROMA_N_FFT/2, frames) each, 65 Hz-2.1 kHz, on
        at most :data:`TUNING_FRAMES` 371-ms frames of the 5.5-kHz copy spread over the track
        (none for a track shorter than one frame or silent). Not kept: ~10 MB for a long track.

        The frames are its own, not every k-th column of :attr:`_harmony_stft`: on the first 45 s
        of a real track (battle-epic.ogg) those read -18 cents against +3 and turned D minor into
        G minor."""
        import librosa

        y4 = self._y4
        if y4.size < CHROMA_N_FFT or not y4.any():  # too short, or digital silence: no peaks
            return np.zeros((0, 0)), np.zeros((0, 0))
        starts = np.unique(np.linspace(0, y4.size - CHROMA_N_FFT, min(TUNING_FRAMES, y4.size // 128)).astype(int))
        frames = y4[starts[:, None] + np.arange(CHROMA_N_FFT)] * np.hanning(CHROMA_N_FFT)
        return librosa.piptrack(S=np.abs(np.fft.rfft(frames, axis=1)).T, sr=self.sr / CHROMA_DECIMATION,
                                n_fft=CHROMA_N_FFT, fmin=65.0, fmax=2100.0)

    @cached_property
    def tuning(self) -> float:
        """Deviation of the music's tuning from A4 = 440 Hz, in fractions of a semitone (-0.5..0.5;
        x 100 = cents): :func:`tuning_of_peaks` of :meth:`tuning_peaks`; 0.0 where nothing is pitched."""
        return tuning_of_peaks(*self.tuning_peaks())

    @staticmethod
    def _fold_chroma(B: np.ndarray, fold: np.ndarray, pitched: np.ndarray | None = None) -> np.ndarray:
        """Power spectrogram ``B`` (bins, frames) log-compressed (which evens out loud partials),
        folded to chroma by ``fold`` (12, bins), each frame normalised to max 1; silent frames, and
        frames where ``pitched`` is False, stay 0."""
        B = np.log1p(1000 * B / (B.max() + 1e-12))
        c = fold @ B
        peak = c.max(axis=0, keepdims=True)
        keep = peak > 1e-6 if pitched is None else (peak > 1e-6) & pitched
        return np.where(keep, c / np.maximum(peak, 1e-12), 0.0)

    @cached_property
    def _chroma_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """(harmony chroma, bass chroma) from a constant-Q transform of the 5.5-kHz copy:
        :data:`CQT_BINS_PER_OCTAVE` bins per octave from C1 (32.7 Hz) over 6 octaves, shifted by
        :attr:`tuning`, hop 128 (the same frame times as the 22 kHz analyses). Each band
        (65 Hz-2.1 kHz for harmony, 30-200 Hz for the bass line) is folded to chroma over its own
        bins only (:meth:`_fold_chroma`); frames as flat as noise in the band (flatter than
        :data:`MAX_PITCHED_FLATNESS`) are left at 0.

        Chosen over the 371-ms STFT chroma (:attr:`change_chroma`) by measurement: the CQT
        resolves the bass and tenor voices that 2.7-Hz STFT bins blur, and with the chord HMM's
        parameters unchanged it raised majmin WCSR from 85.3 to 90.0 (40 generator dev clips),
        64.9 to 75.8 (17 analysed Bach chorales) and 65.8 to 71.5 (34 analysed madrigals; see
        benchmarks/analyses.py), for about the same cost (0.3 s for 4 minutes)."""
        import librosa

        sr4 = self.sr / CHROMA_DECIMATION
        fmin = librosa.note_to_hz("C1") * 2 ** (self.tuning / 12)
        n_bins = CQT_BINS_PER_OCTAVE * 6
        C = self._fit_frames(np.abs(librosa.cqt(self._y4, sr=sr4, hop_length=self.hop // CHROMA_DECIMATION,
                                                fmin=fmin, n_bins=n_bins, bins_per_octave=CQT_BINS_PER_OCTAVE)) ** 2)
        f = fmin * 2 ** (np.arange(n_bins) / CQT_BINS_PER_OCTAVE)
        fold = librosa.filters.cq_to_chroma(n_bins, bins_per_octave=CQT_BINS_PER_OCTAVE, n_chroma=12, fmin=fmin)
        out = []
        for lo, hi in ((65.0, 2100.0), (30.0, 200.0)):  # harmony; bass line
            band = (f >= lo) & (f <= hi)
            B = C[band]
            flatness = np.exp(np.log(B + 1e-20).mean(axis=0)) / (B.mean(axis=0) + 1e-20)
            out.append(self._fold_chroma(B, fold[:, band], flatness < MAX_PITCHED_FLATNESS))
        return out[0], out[1]

    @cached_property
    def change_chroma(self) -> np.ndarray:
        """Chroma for *when* harmony changes (the rhythm's accents), shape = (12, n_frames): from
        :attr:`_harmony_stft`, 65 Hz-2.1 kHz, tuned (:meth:`_fold_chroma`). Sharper in time than
        the constant-Q :attr:`chroma`, whose low bins integrate over 0.8 s: with the constant-Q
        chroma instead, the tempo octave's held-out accuracy on the generator fell from 0.81 to
        0.75 (benchmarks/fit_octave.py), so the rhythm keeps this one."""
        import librosa

        sr4 = self.sr / CHROMA_DECIMATION
        f = np.fft.rfftfreq(CHROMA_N_FFT, 1 / sr4)
        band = (f >= 65.0) & (f <= 2100.0)
        fb = librosa.filters.chroma(sr=sr4, n_fft=CHROMA_N_FFT, tuning=self.tuning, norm=None)
        return self._fold_chroma(self._harmony_stft[band] ** 2, fb[:, band])

    @property
    def chroma(self) -> np.ndarray:
        """Chroma of 65 Hz-2.1 kHz from a constant-Q transform, shape = (12, n_frames),
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

    def onset_frames_to_time(self, frames) -> np.ndarray:
        """Times (s) of the sounds whose onsets peak at these :attr:`onset_env` frames: the frame
        time less :data:`ONSET_LAG_S`, at least 0. Beat and downbeat times are these."""
        return np.maximum(self.frames_to_time(frames) - ONSET_LAG_S, 0.0)

    def time_to_onset_frames(self, times) -> np.ndarray:
        """The :attr:`onset_env` frames where sounds starting at ``times`` (s) peak; the inverse
        of :meth:`onset_frames_to_time`."""
        return self.time_to_frames(np.asarray(times, float) + ONSET_LAG_S)
