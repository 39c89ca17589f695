"""Decode any audio input into mono float32 at 16 kHz, with clear errors.

Accepted inputs
---------------
* a path (``str`` / ``os.PathLike``) to a file: wav/flac/ogg/mp3 are read in-process with
  soundfile (libsndfile); anything else (m4a/aac, opus, webm, a video's soundtrack...) is
  decoded by the ``ffmpeg`` program;
* raw file bytes (``bytes`` / ``bytearray`` / ``memoryview``);
* the ``(sample_rate, array)`` pair that ``gr.Audio(type="numpy")`` hands over, where
  ``array.shape = (n_samples,)`` or ``(n_samples, n_channels)``, int or float PCM;
* a bare 1-D float array already at :data:`SAMPLE_RATE`.

Every problem raises :class:`AudioError`, whose ``code`` is one of :data:`ERROR_CODES` and
whose message names the problem in words a user understands.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

SAMPLE_RATE = 16000  # Hz, what Whisper was trained on
MIN_DURATION = 1.0  # s; shorter clips carry no usable genre or rhythm
MAX_DURATION = 15 * 60.0  # s; the one default cap (app, API, CLIs: --max-minutes) so a 2-hour upload cannot hog a worker
MAX_CHANNELS = 64  # more channels than this is not a music file
MAX_KEPT_RATE = 96000  # Hz; a native-rate decode of a higher-rate file is resampled to this while decoding
BLOCK_SAMPLES = 1 << 20  # samples (all channels) decoded at a time: memory holds the mono result plus one 4-MB block
FFMPEG_NATIVE_RATE = 44100  # rate ffmpeg decodes to when the caller keeps the "native" rate
SILENCE_PEAK = 1e-4  # |sample| below this everywhere (-80 dBFS) counts as digital silence

ERROR_CODES = (
    "empty", "undecodable", "not_audio", "too_short", "too_long", "non_finite", "silent",
)

AudioInput = Union[str, os.PathLike, bytes, bytearray, memoryview, tuple, np.ndarray]

# File extensions taken as audio when a folder is searched (anything ffmpeg can decode).
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".opus", ".webm", ".mp4",
              ".aiff", ".aif", ".wma", ".mka", ".mkv", ".mov", ".au"}
def iter_audio_files(paths: list[str]) -> list[Path]:
    """Expand folders (recursively, audio extensions only) and keep files as given."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTS)
        else:
            files.append(p)
    return files



# Formats libsndfile reads in-process (checked against soundfile.available_formats()).
_SOUNDFILE_EXTS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"}


class AudioError(ValueError):
    """Raised when an input cannot become usable audio.

    Attributes
    ----------
    code : str
        one of :data:`ERROR_CODES`, stable for programs (the API returns it).
    """

    def __init__(self, code: str, message: str):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AudioLimits:
    """Duration bounds, in seconds, that :func:`load_audio` enforces."""

    min_duration: float = MIN_DURATION
    max_duration: float = MAX_DURATION


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{Path(source).name}'"
    return "the audio"


def to_float32_frames(array: np.ndarray) -> np.ndarray:
    """Any PCM array as float32 in [-1, 1], channels kept: shape = (n_samples,) or
    (n_samples, n_channels).

    Parameters
    ----------
    array : np.ndarray, shape = (n_samples,) or (n_samples, n_channels); int or float PCM
        (a (n_channels, n_samples) array with n_channels <= 8 < n_samples is also accepted).
    """
    a = np.asarray(array)
    if a.ndim == 2 and a.shape[0] <= 8 < a.shape[1]:
        a = a.T  # channels-first, as torchaudio writes it
    if a.ndim > 2 or a.ndim == 0:
        raise AudioError("not_audio", f"expected a 1-D or 2-D sample array, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        if info.min == 0:  # unsigned PCM (8-bit wav) is offset-binary
            a = (a.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            a = a.astype(np.float32) / float(-info.min)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32, copy=False)
    else:
        raise AudioError("not_audio", f"samples of type {a.dtype} are not audio")
    return a


def to_mono_float32(array: np.ndarray) -> np.ndarray:
    """Mix any PCM array down to mono float32 in [-1, 1] (what :func:`to_float32_frames` takes)."""
    a = to_float32_frames(array)
    if a.ndim == 2:  # channel by channel: numpy's mean over a short inner axis is ~10x slower
        mono = a[:, 0].astype(np.float32, copy=True)
        for c in range(1, a.shape[1]):
            mono += a[:, c]
        a = mono * np.float32(1 / a.shape[1]) if a.shape[1] > 1 else mono
    return np.ascontiguousarray(a)


def resample(y: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr, high quality). ``y.shape = (n_samples,)``."""
    if orig_sr == target_sr:
        return y
    import soxr  # librosa's own resampling backend

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


class _MonoSink:
    """Collects decoded blocks as mono float32, resampled on the fly to ``out_rate`` (soxr's
    streaming resampler), so memory holds the mono result plus one block whatever the channel
    count and the rate."""

    def __init__(self, in_rate: int, out_rate: int, expected_frames: int = 0, observe=None):
        import soxr

        self.observe = observe
        if observe is not None:
            observe.reset()  # a decoder that starts over (libsndfile gave up, ffmpeg retries) starts it over too
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ") \
            if in_rate != out_rate else None
        size = int(expected_frames * out_rate / in_rate) + 64 if expected_frames > 0 else 0
        self.buf = np.empty(size, np.float32)
        self.n = 0

    def _append(self, y: np.ndarray) -> None:
        if self.n + y.size > self.buf.size:
            grown = np.empty(max(2 * self.buf.size, self.n + y.size, 1 << 16), np.float32)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n: self.n + y.size] = y
        self.n += y.size

    def add(self, block: np.ndarray, last: bool = False) -> None:
        if self.observe is not None:
            self.observe(block, self.in_rate)
        mono = to_mono_float32(block)
        self._append(self.stream.resample_chunk(mono, last=last) if self.stream is not None else mono)

    def result(self) -> np.ndarray:
        if self.stream is not None:
            self._append(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
        return self.buf[: self.n].copy() if self.n < self.buf.size // 2 else self.buf[: self.n]


def check_shape(channels: int, rate: int, name: str) -> None:
    """Refuse channel counts and rates that no music file has (before anything is decoded)."""
    if channels > MAX_CHANNELS:
        raise AudioError("not_audio", f"{name} has {channels} channels; at most {MAX_CHANNELS} are accepted")
    if rate < 1000 or rate > 768000:
        raise AudioError("not_audio", f"{name} has a sample rate of {rate} Hz, outside 1 kHz-768 kHz")


def _read_soundfile(data, limits: AudioLimits, name: str, target_sr: int | None, observe=None):
    """Read with libsndfile in blocks, mixed down and resampled on the fly to ``target_sr`` (None:
    the file's rate, capped at :data:`MAX_KEPT_RATE`). Returns (mono, rate) or None when libsndfile
    cannot parse the data."""
    import soundfile as sf

    try:
        with sf.SoundFile(data) as f:
            sr, channels = f.samplerate, f.channels
            check_shape(channels, sr, name)
            if f.frames > 0 and f.frames / sr > limits.max_duration:
                _too_long(f.frames / sr, limits, name)
            out_rate = target_sr or min(sr, MAX_KEPT_RATE)
            # read at most the cap (+1 s) so a file with a lying header cannot blow memory
            cap = int((limits.max_duration + 1) * sr)
            total = min(cap, f.frames) if f.frames > 0 else cap
            sink = _MonoSink(sr, out_rate, total, observe)
            block = max(BLOCK_SAMPLES // channels, 1)
            done = 0
            while done < total:
                y = f.read(frames=min(block, total - done), dtype="float32", always_2d=True)
                if y.shape[0] == 0:
                    break
                done += y.shape[0]
                sink.add(y)
            if done >= cap:
                _too_long(None, limits, name)
            return sink.result(), out_rate
    except AudioError:
        raise
    except Exception:  # sf.LibsndfileError, RuntimeError on broken mp3 frames, ...
        return None


def _read_exact(fh, n: int) -> bytes:
    out = b""
    while len(out) < n:
        got = fh.read(n - len(out))
        if not got:
            break
        out += got
    return out


def _wav_stream_header(fh) -> tuple[int, int] | None:
    """(channels, rate) from the head of a float WAV stream that ffmpeg writes to a pipe; the file
    position is left at the first sample. None when the stream ends first (ffmpeg failed)."""
    head = _read_exact(fh, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    channels = rate = 0
    while True:
        chunk = _read_exact(fh, 8)
        if len(chunk) < 8:
            return None
        size = int.from_bytes(chunk[4:8], "little")
        if chunk[:4] == b"data":
            return (channels, rate) if channels else None
        body = _read_exact(fh, size + (size & 1))
        if chunk[:4] == b"fmt " and len(body) >= 8:
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")


def _ffmpeg_decode(path: str, limits: AudioLimits, name: str, target_sr: int | None,
                   observe=None) -> tuple[np.ndarray, int]:
    """Decode through the ffmpeg program to float32 at ``target_sr`` (:data:`FFMPEG_NATIVE_RATE`
    when None), read from its pipe block by block into mono (ffmpeg mixes down itself unless
    ``observe`` wants the channels). Returns (y, rate)."""
    import tempfile
    import threading

    rate = target_sr or FFMPEG_NATIVE_RATE
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(
            "undecodable",
            f"{name} is not wav/flac/ogg/mp3 and the 'ffmpeg' program, needed for other formats "
            "(m4a, aac, opus, webm, video), is not installed (apt-get install ffmpeg)",
        )
    cap = limits.max_duration + 1.0
    # only local files and pipes (a playlist or a crafted file cannot make ffmpeg fetch URLs), one
    # decoding thread (other users' analyses share the CPU), the cap plus a second at most
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,pipe",
           "-threads", "1", "-i", path, "-t", f"{cap:.3f}", "-vn"] + (["-ac", "1"] if observe is None else []) \
        + ["-ar", str(rate), "-c:a", "pcm_f32le", "-f", "wav", "-"]
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty ffmpeg cannot block on it
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        timed_out = threading.Event()
        timer = threading.Timer(300, lambda: (timed_out.set(), proc.kill()))
        timer.start()
        try:
            got, too_long = _read_ffmpeg_stream(proc, limits, name, cap, observe)
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            timer.cancel()
        errors.seek(0)
        err = errors.read().decode("utf-8", "replace").strip()
    if timed_out.is_set():
        raise AudioError("undecodable", f"decoding {name} took too long (over 300 s)")
    if too_long:
        _too_long(None, limits, name)
    if got is None or proc.returncode != 0:
        if "does not contain any stream" in err or "Output file does not contain" in err \
                or "matches no streams" in err:
            raise AudioError("not_audio", f"{name} contains no audio stream")
        last = (err.splitlines()[-1] if err else "no output").replace(path, Path(path).name)
        last = last.split(": ", 1)[-1] if last.startswith(Path(path).name) else last
        raise AudioError("undecodable", f"{name} could not be decoded as audio ({last})")
    return got


def _read_ffmpeg_stream(proc, limits: AudioLimits, name: str, cap: float, observe):
    """((mono, rate) or None when ffmpeg wrote no audio, whether the cap was reached)."""
    header = _wav_stream_header(proc.stdout)
    if header is None:
        return None, False
    channels, rate = header
    check_shape(channels, rate, name)
    sink = _MonoSink(rate, rate, 0, observe)
    frame_bytes = 4 * channels
    block = max(BLOCK_SAMPLES // channels, 1) * frame_bytes
    done, limit, rest = 0, int(cap * rate), b""
    while True:
        data = _read_exact(proc.stdout, block)
        if not data:
            break
        data = rest + data
        whole = len(data) // frame_bytes * frame_bytes
        rest = data[whole:]
        frames = np.frombuffer(data[:whole], dtype="<f4").reshape(-1, channels)
        done += frames.shape[0]
        if done >= limit:
            return None, True
        if frames.size:
            sink.add(frames)
    y = sink.result()
    return ((y, rate) if y.size else None), False


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in text) / len(text) > 0.95


def limit_text(limits: "AudioLimits | None" = None) -> str:
    """The duration limit in words, the same everywhere (UI, API, CLIs, README)."""
    m = (limits or AudioLimits()).max_duration / 60
    return f"{m:g} min"


def _too_long(duration: float | None, limits: AudioLimits, name: str):
    """Raise the too_long error (``duration`` None: decoding stopped at the cap, so the exact
    length is unknown)."""
    said = (f"{name} is {duration / 60:.1f} min long; the limit is {limit_text(limits)}" if duration is not None
            else f"{name} is longer than the limit of {limit_text(limits)}")
    raise AudioError("too_long", said + " (trim it, or raise the limit: --max-minutes, or GENRE_MAX_MINUTES for the app)")


def _decode_file(path: str, limits: AudioLimits, name: str, target_sr: int | None,
                 observe=None) -> tuple[np.ndarray, int]:
    if not os.path.exists(path):
        raise AudioError("undecodable", f"{name} does not exist")
    if os.path.getsize(path) == 0:
        raise AudioError("empty", f"{name} is an empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if _looks_like_text(head):
        raise AudioError("not_audio", f"{name} is a text file, not audio")
    ext = Path(path).suffix.lower()
    if ext in _SOUNDFILE_EXTS or not ext:
        got = _read_soundfile(path, limits, name, target_sr, observe)
        if got is not None:
            return got
    return _ffmpeg_decode(path, limits, name, target_sr, observe)


def _finish(y: np.ndarray, sr: int, target_sr: int | None, observe=None) -> tuple[np.ndarray, int]:
    if observe is not None:
        frames = to_float32_frames(y)
        observe.reset()
        for i in range(0, frames.shape[0], 1 << 16):
            observe(frames[i:i + (1 << 16)], int(sr))
        y = frames
    y = to_mono_float32(y)
    if target_sr is None:
        return y, int(sr)
    return resample(y, int(sr), target_sr), target_sr


def _decode_bytes(data: bytes, limits: AudioLimits, target_sr: int | None, observe=None) -> tuple[np.ndarray, int]:
    name = "the uploaded data"
    if len(data) == 0:
        raise AudioError("empty", "the audio data is empty (0 bytes)")
    if _looks_like_text(data[:4096]):
        raise AudioError("not_audio", "the data is text, not audio")
    got = _read_soundfile(io.BytesIO(data), limits, name, target_sr, observe)
    if got is not None:
        return got
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        return _ffmpeg_decode(tmp.name, limits, name, target_sr, observe)


def load_audio(
    source: AudioInput,
    *,
    sr: int | None = None,
    min_duration: float = MIN_DURATION,
    max_duration: float = MAX_DURATION,
) -> np.ndarray:
    """Decode ``source`` into mono float32 samples at :data:`SAMPLE_RATE` (16 kHz).

    The same as ``decode_audio(source, target_sr=SAMPLE_RATE, ...)[0]``; see :func:`decode_audio`.
    """
    return decode_audio(source, sr=sr, target_sr=SAMPLE_RATE, min_duration=min_duration,
                        max_duration=max_duration)[0]


def decode_audio(
    source: AudioInput,
    *,
    sr: int | None = None,
    target_sr: int | None = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    max_duration: float = MAX_DURATION,
    allow_silent: bool = False,
    observe=None,
) -> tuple[np.ndarray, int]:
    """Decode ``source`` into mono float32 samples at ``target_sr`` (None: the file's own rate;
    44.1 kHz for formats only ffmpeg reads).

    Parameters
    ----------
    source : path, bytes, ``(sample_rate, array)`` pair, or 1-D array (taken to be at ``sr``,
        default 16 kHz)
    sr : sample rate of a bare array ``source``; ignored otherwise
    target_sr : output rate in Hz, or None to keep the source's rate
    allow_silent : accept digital silence (the theory report describes it instead of refusing)
    observe : optional measurement that needs the channels (e.g.
        :class:`genre_model.theory.loudness.ChannelMeter`): called as ``observe(block, rate)`` with
        each decoded block before the mixdown, ``block.shape = (n_frames, n_channels)`` float32 at
        the decoded rate (the file's own, or 44.1 kHz for formats only ffmpeg reads), after
        ``observe.reset()`` at the start of each decoding attempt
    min_duration, max_duration : bounds in seconds; outside them an AudioError is raised

    Returns
    -------
    (y, rate): y.shape = (n_samples,), dtype float32, at ``rate`` Hz

    Raises
    ------
    AudioError
        with ``code`` in :data:`ERROR_CODES` and a message naming the problem.
    """
    limits = AudioLimits(min_duration, max_duration)
    name = _name(source)
    if isinstance(source, (str, os.PathLike)):
        y, rate = _decode_file(os.fspath(source), limits, name, target_sr, observe)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        y, rate = _decode_bytes(bytes(source), limits, target_sr, observe)
    elif isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError("not_audio", "expected a (sample_rate, samples) pair")
        rate, array = source
        if isinstance(array, (int, float)) and not isinstance(rate, (int, float)):
            rate, array = array, rate  # (array, sr) order, as librosa.load returns it
        if not isinstance(rate, (int, np.integer, float)) or rate <= 0:
            raise AudioError("not_audio", f"invalid sample rate {rate!r}")
        array = np.asarray(array)
        if array.size == 0:
            raise AudioError("empty", "the audio contains no samples")
        if array.shape[0] / rate > limits.max_duration and array.ndim >= 1:
            _too_long(array.shape[0] / rate, limits, name)
        y, rate = _finish(array, int(rate), target_sr, observe)
    elif isinstance(source, np.ndarray):
        if source.size == 0:
            raise AudioError("empty", "the audio contains no samples")
        y, rate = _finish(source, int(sr or SAMPLE_RATE), target_sr, observe)
    elif source is None:
        raise AudioError("empty", "no audio was given")
    else:
        raise AudioError("not_audio", f"cannot read audio from a {type(source).__name__}")
    return validate(y, limits, name, rate, allow_silent=allow_silent), rate


def validate(y: np.ndarray, limits: AudioLimits = AudioLimits(), name: str = "the audio",
             sr: int = SAMPLE_RATE, *, allow_silent: bool = False) -> np.ndarray:
    """Check decoded mono samples at ``sr``; return them or raise :class:`AudioError`."""
    if y.size == 0:
        raise AudioError("empty", f"{name} contains no audio samples")
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioError("non_finite", f"{name} contains {bad} non-finite samples (NaN or infinity)")
    duration = y.size / sr
    if duration > limits.max_duration + 0.5:
        _too_long(duration, limits, name)
    if duration < limits.min_duration:
        raise AudioError(
            "too_short",
            f"{name} is {duration:.2f} s long; at least {limits.min_duration:g} s is needed",
        )
    if not allow_silent and float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError("silent", f"{name} is digital silence: no genre can be heard in it")
    return y
