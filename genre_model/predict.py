"""Whole-song genre prediction (batched 30-s windows, aggregation, timeline) and its CLI.

    python -m genre_model.predict FILES_OR_FOLDERS [--model ID_OR_DIR] [--json OUT | --csv OUT]
                                  [--batch-size N] [--top-k K] [--precision P] [--max-windows N]

A song is cut into 30-s windows (:func:`genre_model.features.plan_windows`; a clip shorter than
30 s is tiled to fill its window), near-silent windows are left out, the others are encoded in
batches, and the song's probabilities are the mean of their window probabilities; the
per-window probabilities are kept as the timeline.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import MAX_DURATION, SAMPLE_RATE, AudioError, decode_audio, iter_audio_files, limit_text
from .engines import ENGINES
from .features import HOP_LENGTH, N_FFT, N_SAMPLES, plan_windows, stack_windows, log_mel

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_PRECISION = "auto"  # see resolve_precision
DEFAULT_MAX_WINDOWS = None  # the whole song
# The published Whisper-tiny GTZAN fine-tune the app and CLI use until this project pushes its own
# (reported accuracy 0.91 on a random GTZAN split; README credits it). Override with --model or
# GENRE_MODEL.
DEFAULT_MODEL = "2010b9/whisper-tiny-finetuned-gtzan"
# A window whose RMS is under this (dBFS), or this far under the loudest window's, is near-silent
# (a fade-out, a pause, a hidden-track gap) and left out of the song's genre.
SILENT_WINDOW_DBFS, SILENT_WINDOW_BELOW_LOUDEST_DB = -55.0, 40.0


@dataclass
class LabelScore:
    label: str
    score: float


@dataclass
class WindowPrediction:
    """One 30-s window of the timeline: times in seconds, probabilities per label."""

    start: float
    end: float
    label: str
    score: float
    probabilities: dict[str, float]


@dataclass
class GenrePrediction:
    """Song-level genre result. ``top`` is sorted by score; ``timeline`` by time (near-silent
    windows are not in it; ``windows_silent`` counts them)."""

    top: list[LabelScore]
    probabilities: dict[str, float]
    timeline: list[WindowPrediction]
    duration_s: float
    elapsed_s: float
    model: str
    precision: str
    engine: str = "torch"
    windows_total: int = 0  # windows the whole song has at this hop (>= len(timeline))
    windows_silent: int = 0  # near-silent windows left out of the song's probabilities

    @property
    def label(self) -> str:
        return self.top[0].label

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)


@dataclass
class SongWindows:
    """A song cut for the model (:meth:`GenreClassifier.cut`): its audible windows, their samples
    ``batch.shape = (len(windows), N_SAMPLES)`` float32 at 16 kHz, how many windows the whole song
    has at this hop and how many of those were near-silent, and its duration in seconds."""

    windows: list
    batch: np.ndarray
    windows_total: int
    windows_silent: int
    duration_s: float


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX512-BF16 or AMX-BF16 (where bf16 autocast is faster than fp32)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """Map "auto" to a concrete precision.

    * CPU with native bf16: bf16 autocast. Measured on the real Whisper tiny.en encoder and 16
      real 30-s music windows (benchmarks/bench_predict.py): pooled 1-cos 6e-5 against fp32 and
      every window keeps its top-1 label, inside the bound (1-cos <= 1e-4, all labels kept);
    * other CPUs: fp32 (bf16 is emulated there and slower);
    * CUDA: fp16 autocast, as Whisper itself runs on GPUs. Measured on an H200
      (benchmarks/bench_predict_cuda.py, real tiny.en, the same 16 windows): fp16 pooled 1-cos 7e-8
      against fp32, bf16 7e-5, both keep every label; fp16 is as fast or faster (1700 windows/s
      at batch 64 against 1640 for bf16 and 760 for fp32).
    int8 (torch ``quantize_dynamic``) is not offered: on the real encoder it reaches 1-cos 4e-3 and
    flips a window's label (Whisper's outlier channels reach 600).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = torch.device(device).type
    if precision == "fp16" and kind == "cpu":
        raise ValueError("fp16 is for GPUs; on a CPU use bf16 (native bf16 CPUs) or fp32")
    if precision != "auto":
        return precision
    if kind == "cuda":
        return "fp16"
    return "bf16" if kind == "cpu" and cpu_has_native_bf16() else "fp32"


def window_levels_db(batch: np.ndarray) -> np.ndarray:
    """RMS of each window in dBFS, ``batch.shape = (n_windows, n_samples)`` -> (n_windows,)."""
    rms = np.sqrt(np.mean(np.square(batch, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def audible_windows(levels_db: np.ndarray) -> np.ndarray:
    """Boolean mask of the windows that are not near-silent (see :data:`SILENT_WINDOW_DBFS`);
    the loudest window always counts."""
    keep = (levels_db >= SILENT_WINDOW_DBFS) & (levels_db >= levels_db.max() - SILENT_WINDOW_BELOW_LOUDEST_DB)
    keep[int(np.argmax(levels_db))] = True
    return keep


def check_preprocessor(fe, n_mels: int) -> None:
    """Refuse a model whose ``preprocessor_config.json`` asks for another front end than Whisper's
    (our features are Whisper's: 16 kHz, 400-point FFT, hop 160, 30-s chunks)."""
    if fe is None:
        return
    want = {"sampling_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_samples": N_SAMPLES,
            "feature_size": n_mels}
    got = {k: getattr(fe, k, v) for k, v in want.items()}
    bad = {k: v for k, v in got.items() if v != want[k]}
    if bad:
        from .model import ModelLoadError

        raise ModelLoadError(f"the model's preprocessor config asks for {bad}, but its encoder and this "
                             f"package use Whisper's front end {want}")


class GenreClassifier:
    """Whole-song genre classifier around a ``WhisperForAudioClassification``.

    Parameters
    ----------
    model : Hub id, folder, or an already loaded ``WhisperForAudioClassification``
    device : "cpu", "cuda", ...
    precision : "auto" (see :func:`resolve_precision`), "fp32" (reference), "bf16" or "fp16"
        (autocast; fp16 on GPUs only)
    engine : "auto" (OpenVINO on a CPU where installed, else torch; see
        :mod:`genre_model.engines`), "torch" (the reference) or "openvino"
    threads : inference threads of the OpenVINO engine (None: all cores)
    max_duration : longest input accepted, seconds (:data:`genre_model.audio.MAX_DURATION`)
    batch_size : windows encoded per forward pass
    hop : seconds between window starts (30 = no overlap)
    max_windows : cap on windows per song, spread evenly over it (None = all)
    feature_extractor : the model's ``WhisperFeatureExtractor`` (read from the model's folder when
        ``model`` is a name); its mel count and rate are checked against Whisper's front end
    """

    def __init__(self, model, *, device: str = "cpu", precision: str = DEFAULT_PRECISION,
                 batch_size: int = 2, hop: float = 30.0, max_windows: int | None = DEFAULT_MAX_WINDOWS,
                 name: str | None = None, feature_extractor=None, engine: str = "auto",
                 threads: int | None = None, cache_dir: str | os.PathLike | None = None,
                 max_duration: float = MAX_DURATION):
        from .engines import make_engine, resolve_engine
        from .model import load_model

        precision = resolve_precision(precision, device)
        engine = resolve_engine(engine, device)
        if isinstance(model, (str, os.PathLike)):
            name = name or os.fspath(model)
            model, feature_extractor = load_model(model, device=device)
        self.name = name or getattr(model.config, "name_or_path", "") or "model"
        self.model = model.float().to(device).eval()  # fp16 checkpoints run with fp32 weights + autocast
        self.device = device
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.hop = hop
        self.max_windows = max_windows
        self.max_duration = max_duration
        cfg = model.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.n_mels = cfg.num_mel_bins
        check_preprocessor(feature_extractor, self.n_mels)
        self.engine = make_engine(self.model, engine, device, precision, cache_dir=cache_dir, threads=threads)

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and mean-pooled encoder states of a batch of 30-s windows.

        Parameters
        ----------
        batch : shape = (n_windows, N_SAMPLES) float32 at 16 kHz

        Returns
        -------
        (logits, pooled): shapes (n_windows, n_labels) and (n_windows, d_model), float32
        """
        logits, pooled = [], []
        for i in range(0, len(batch), self.batch_size):
            feats = log_mel(batch[i:i + self.batch_size], self.n_mels, device=self.device)
            lo, po = self.engine(feats)
            logits.append(lo)
            pooled.append(po)
        return np.concatenate(logits), np.concatenate(pooled)

    def window_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of 30-s windows, ``batch.shape = (n_windows, N_SAMPLES)``
        -> ``(n_windows, n_labels)``."""
        logits = self.encode(batch)[0].astype(np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, audio, top_k: int = 5, *, sr: int | None = None) -> GenrePrediction:
        """Genre of a whole song.

        Parameters
        ----------
        audio : anything :func:`genre_model.audio.decode_audio` takes: a path, bytes, a
            ``(sample_rate, array)`` pair, or an array at ``sr``
        sr : sample rate in Hz of a bare array ``audio`` (required for one)
        top_k : labels kept in ``top``

        Raises
        ------
        AudioError
            for input with no genre to hear (digital silence, too short, non-finite...).
        ValueError
            for a bare array without ``sr``.
        """
        t0 = time.perf_counter()
        if isinstance(audio, np.ndarray):
            if sr is None:
                raise ValueError("predict(array) needs sr=, the array's sample rate in Hz")
        y = decode_audio(audio, sr=sr, max_duration=self.max_duration)[0]
        song = self.cut(y)
        return self.assemble(song, self.window_probabilities(song.batch), top_k, t0=t0)

    def cut(self, y: np.ndarray) -> SongWindows:
        """The audible 30-s windows of a decoded song (16-kHz mono float32), ready for
        :meth:`window_probabilities`; the batch job stacks several songs' windows into one batch."""
        windows = plan_windows(y.size, hop=self.hop, max_windows=self.max_windows)
        n_total = len(plan_windows(y.size, hop=self.hop))
        batch = stack_windows(y, windows)
        keep = audible_windows(window_levels_db(batch))
        return SongWindows([w for w, k in zip(windows, keep) if k], batch[keep], n_total,
                           int((~keep).sum()), round(y.size / SAMPLE_RATE, 3))

    def assemble(self, song: SongWindows, probs: np.ndarray, top_k: int = 5, *,
                 t0: float | None = None) -> GenrePrediction:
        """The song's prediction from its windows' probabilities, ``probs.shape = (len(song.windows),
        n_labels)``: their mean, its ``top_k`` labels, and the timeline."""
        mean = probs.mean(axis=0)
        order = np.argsort(-mean)[:top_k]
        timeline = [
            WindowPrediction(round(w.start, 3), round(w.end, 3), self.labels[int(p.argmax())],
                             float(p.max()), self._as_dict(p))
            for w, p in zip(song.windows, probs)
        ]
        return GenrePrediction(
            top=[LabelScore(self.labels[i], float(mean[i])) for i in order],
            probabilities=self._as_dict(mean), timeline=timeline, duration_s=song.duration_s,
            elapsed_s=round(time.perf_counter() - t0, 4) if t0 is not None else 0.0,
            model=self.name, precision=self.precision, engine=self.engine.name,
            windows_total=song.windows_total, windows_silent=song.windows_silent,
        )

    def _as_dict(self, p: np.ndarray) -> dict[str, float]:
        return {l: round(float(v), 6) for l, v in zip(self.labels, p)}


# ----------------------------------------------------------------------------------- CLI
def _write_csv(path: str, rows: list[dict], labels: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "status", "error", "label", "score", "duration_s", *labels])
        for r in rows:
            pred = r.get("prediction")
            if pred:
                w.writerow([r["file"], "ok", "", pred["top"][0]["label"], f"{pred['top'][0]['score']:.4f}",
                            pred["duration_s"], *(f"{pred['probabilities'][l]:.4f}" for l in labels)])
            else:
                w.writerow([r["file"], "error", r["error"], "", "", "", *([""] * len(labels))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genre_model.predict", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    ap.add_argument("--model", default=os.environ.get("GENRE_MODEL", DEFAULT_MODEL),
                    help=f"Hub id or local folder of a fine-tuned model (default: $GENRE_MODEL or {DEFAULT_MODEL})")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--json", metavar="OUT", help="write all results as JSON")
    out.add_argument("--csv", metavar="OUT", help="write one row per file as CSV")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                    help="auto: fp16 on GPUs, bf16 on CPUs with native bf16, else fp32")
    ap.add_argument("--max-windows", type=int, default=DEFAULT_MAX_WINDOWS,
                    help="windows per song at most, spread evenly (0 = all)")
    ap.add_argument("--engine", choices=ENGINES, default="auto",
                    help="auto: OpenVINO on a CPU when installed (built from the model, cached), else torch")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-minutes", type=float, default=MAX_DURATION / 60,
                    help=f"longest file accepted (default {limit_text()})")
    args = ap.parse_args(argv)

    from tqdm import tqdm
    from .model import ModelLoadError

    files = iter_audio_files(args.inputs)
    if not files:
        print("error: no audio files found in the given inputs", file=sys.stderr)
        return 2
    try:
        clf = GenreClassifier(args.model, device=args.device, precision=args.precision, engine=args.engine,
                              batch_size=args.batch_size, max_windows=args.max_windows or None,
                              max_duration=args.max_minutes * 60)
    except ModelLoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows, failed = [], 0
    for f in tqdm(files, desc="genre", unit="file", disable=None):
        try:
            pred = clf.predict(str(f), top_k=args.top_k)
            rows.append({"file": str(f), "prediction": pred.to_dict()})
            if not (args.json or args.csv):
                tqdm.write(f"{f}\t{pred.label}\t{pred.top[0].score:.3f}")
        except AudioError as e:
            failed += 1
            rows.append({"file": str(f), "error": f"{e.code}: {e}"})
            tqdm.write(f"skipped {f}: {e}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    elif args.csv:
        _write_csv(args.csv, rows, clf.labels)
    print(f"{len(files) - failed} of {len(files)} files classified"
          + (f", {failed} skipped (see messages above)" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
