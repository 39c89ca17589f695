"""Library-scale analysis: one resumable job over thousands of tracks, to partitioned Parquet.

    genre-batch INPUTS... -o OUT_DIR [--list FILE] [--dataset NAME [--split S] [--audio-column C]
                [--streaming]] [--engine local|ray] [--workers N] [--no-genre] [--model ID_OR_DIR]
                [--max-minutes M] [--overwrite | --retry-errors CODES]

(or ``python -m genre_model.batch``). Inputs are files, folders (searched recursively), fsspec
URLs (``s3://bucket/dir/``, ``https://.../a.mp3``; a folder URL or a glob is expanded), text files
of paths/URLs (``--list``), or a Hugging Face ``datasets`` dataset with an audio column (a Hub id,
a folder written by ``save_to_disk``; ``--streaming`` reads a Hub dataset without downloading it).

Per track, one row (:data:`COLUMNS`, documented in README): the genre (top label, all labels'
probabilities, the 30-s windows) and the theory report's main fields plus the whole report as
JSON, or the error code and reason. A bad file never stops the job.

Output: ``OUT_DIR/part-NNNNNN.parquet`` (each written whole, then renamed into place, every
``--rows-per-file`` rows or ``--flush-seconds``) and ``OUT_DIR/_summary.json`` (counts, failures
by reason, throughput, peak memory). Resume: a killed job restarted with the same arguments
skips the tracks already in a part file and redoes the rest; at most the rows of one unwritten
part are computed twice, none are lost. ``--retry-errors CODES`` analyses the tracks that failed
with those codes again and drops their old rows.

Engines
-------
``local`` (default): decode and theory in worker processes (one per core), the genre model in
this process with the windows of several tracks in each batch (GPU when there is one); a bounded
number of tracks in flight keeps memory flat (backpressure). A worker that dies (a crashing
decoder, the OOM killer) is replaced; the tracks it may have held are retried one at a time, and
one that kills a worker on its own is recorded as ``worker_crashed``.

``ray`` (``pip install 'genre-model[ray]'``): Ray Data decodes and runs the theory as CPU tasks
(retried when a node dies), the genre model in an actor pool (one per GPU, or CPU actors) with
batched windows; the driver writes the same Parquet. See README for submitting to a cluster.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
import warnings
from collections import Counter, deque
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .audio import AUDIO_EXTS, MAX_DURATION, SAMPLE_RATE, AudioError, decode_audio, iter_audio_files, limit_text, resample
from .extract import analyze_theory, theory_fields

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"  # 2: tempo_change, tempo_start_bpm, tempo_end_bpm
# Row error codes beyond the decoder's (genre_model.audio.ERROR_CODES):
#   unreadable      the file or URL could not be opened or read
#   too_large       a URL's file is over MAX_URL_BYTES
#   internal        the analysis raised an unexpected error (a bug: the reason holds it)
#   worker_crashed  the track killed its worker process on its own (after a retry alone)
BATCH_ERROR_CODES = ("unreadable", "too_large", "internal", "worker_crashed")
MAX_URL_BYTES = 1 << 30  # a remote file is read whole into memory; past 1 GiB it is refused
DEFAULT_ROWS_PER_FILE = 1000
DEFAULT_FLUSH_SECONDS = 60.0

# The Parquet columns, in order: (name, arrow type as text, meaning). pyarrow types are made from
# this in schema(); README's table is this list.
COLUMNS = [
    ("track", "string", "the input: a path, a URL, or DATASET:SPLIT:INDEX"),
    ("status", "string", "ok or error"),
    ("error_code", "string", "why the track failed (audio.ERROR_CODES or batch.BATCH_ERROR_CODES)"),
    ("error", "string", "the reason in words"),
    ("duration_s", "float64", "seconds analysed"),
    ("genre", "string", "the song's top genre (mean of its windows' probabilities)"),
    ("genre_score", "float64", "that genre's probability"),
    ("genre_probabilities", "list<struct<label: string, score: float64>>", "every label, best first"),
    ("genre_windows", "list<struct<start: float64, end: float64, label: string, score: float64>>",
     "the audible 30-s windows: seconds, top label, its probability"),
    ("genre_windows_total", "int32", "windows the song has"),
    ("genre_windows_silent", "int32", "near-silent windows left out"),
    ("genre_model", "string", "model id or folder"),
    ("genre_error", "string", "why there is no genre for an analysed track (e.g. digital silence)"),
    ("key", "string", "e.g. 'A minor'"),
    ("key_confidence", "float64", "0-1"),
    ("tuning_cents", "float64", "from A4 = 440 Hz"),
    ("tempo_bpm", "float64", "beats per minute"),
    ("tempo_change", "string", "steady / speeds up / slows down (the beats' first against last 30 %)"),
    ("tempo_start_bpm", "float64", "the beats' tempo over their first 30 %"),
    ("tempo_end_bpm", "float64", "the beats' tempo over their last 30 %"),
    ("meter", "string", "e.g. '4/4'"),
    ("chords", "list<string>", "the most common progression's chords"),
    ("progression", "list<string>", "the same in Roman numerals"),
    ("form", "string", "e.g. 'AABA'"),
    ("integrated_lufs", "float64", "LUFS, BS.1770 over the channels"),
    ("loudness_range_lu", "float64", "LU, EBU Tech 3342 loudness range"),
    ("true_peak_dbtp", "float64", "dBTP, the loudest channel"),
    ("energy", "string", "low / medium / high"),
    ("brightness", "string", "dark / balanced / bright"),
    ("mood", "string", "heuristic"),
    ("quality_issues", "list<string>", "clipping, noise, band-limited..."),
    ("theory_json", "string", "the whole theory report (TheoryReport.to_dict) as JSON"),
]


def schema():
    """The pyarrow schema of :data:`COLUMNS` (with the schema version in its metadata)."""
    import pyarrow as pa

    prim = {"string": pa.string(), "float64": pa.float64(), "int32": pa.int32()}

    def typ(t: str):
        if t in prim:
            return prim[t]
        if t.startswith("list<struct<"):
            fields = [f.split(": ") for f in t[len("list<struct<"):-2].split(", ")]
            return pa.list_(pa.struct([(n, prim[v]) for n, v in fields]))
        return pa.list_(prim[t[len("list<"):-1]])

    return pa.schema([(n, typ(t)) for n, t, _ in COLUMNS], metadata={"genre_model.batch.schema": SCHEMA_VERSION})


def empty_row(track: str) -> dict:
    return {n: None for n, _, _ in COLUMNS} | {"track": track}


def error_row(track: str, code: str, reason: str) -> dict:
    return empty_row(track) | {"status": "error", "error_code": code, "error": reason}


# ---------------------------------------------------------------- inputs

@dataclass(frozen=True)
class Track:
    """One input: ``id`` is its row's key (a path, a URL, or ``DATASET:SPLIT:INDEX``); ``source`` is
    what the decoder reads (a local path, a URL, or the file's bytes)."""

    id: str
    source: str | bytes


def is_url(s: str) -> bool:
    return "://" in s


def _local_path(url: str) -> str | None:
    return url[len("file://"):] if url.startswith("file://") else None


def _expand_url(url: str) -> list[str]:
    """A file URL as is; a folder URL or a glob expanded to its audio files (sorted)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if any(c in path for c in "*?["):
        paths = fs.glob(path)
    elif fs.isdir(path):
        paths = fs.find(path)
    else:
        return [url]
    return sorted(fs.unstrip_protocol(p) for p in paths if Path(p).suffix.lower() in AUDIO_EXTS)


def iter_paths(inputs: Iterable[str]) -> Iterator[Track]:
    """Tracks of files, folders and URLs, in the order given (folders sorted)."""
    for item in inputs:
        if is_url(item):
            local = _local_path(item)
            if local is not None:
                yield from (Track(str(f), str(f)) for f in iter_audio_files([local]))
            else:
                yield from (Track(u, u) for u in _expand_url(item))
        else:
            yield from (Track(str(f), str(f)) for f in iter_audio_files([item]))


def read_list(path: str) -> list[str]:
    """The paths/URLs of a list file, one per line (blank lines and ``#`` comments skipped)."""
    lines = Path(path).read_text().splitlines()
    return [s for s in (l.strip() for l in lines) if s and not s.startswith("#")]


def open_dataset(name: str, *, split: str = "train", config: str | None = None, audio_column: str = "audio",
                 streaming: bool = False):
    """A ``datasets`` dataset's audio column, undecoded: ``NAME`` is a Hub id or a folder written by
    ``save_to_disk``. Raises ``ValueError``/``OSError`` with the reason (no such dataset, split or
    column; the Hub out of reach)."""
    import datasets

    if os.path.isdir(name) and (Path(name, "dataset_info.json").exists() or Path(name, "dataset_dict.json").exists()):
        ds = datasets.load_from_disk(name)
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise ValueError(f"{name} has no split {split!r} (it has {', '.join(ds)})")
            ds = ds[split]
        if streaming:
            ds = ds.to_iterable_dataset()
    else:
        from huggingface_hub import constants

        from .model import hub_answer

        if not os.path.isdir(name) and not constants.HF_HUB_OFFLINE:  # fail fast, in words
            answer = hub_answer(name, repo_type="dataset")
            if answer == "missing":
                raise ValueError(f"no dataset {name!r} on the Hugging Face Hub (or no access to it)")
            if answer == "unreachable":
                raise OSError(f"the Hugging Face Hub cannot be reached to read the dataset {name!r} "
                              "(offline? set HF_HUB_OFFLINE=1 to use a cached copy)")
        ds = datasets.load_dataset(name, config, split=split, streaming=streaming)
    if audio_column not in (ds.column_names or []):
        raise ValueError(f"the dataset has no column {audio_column!r} (it has {', '.join(ds.column_names or [])})")
    return ds.select_columns([audio_column]).cast_column(audio_column, datasets.Audio(decode=False))


def dataset_tracks(ds, name: str, split: str, audio_column: str = "audio") -> Iterator[Track]:
    """Tracks of an :func:`open_dataset` dataset: each one's file bytes (or its path when the
    bytes are not stored); ids are ``NAME:SPLIT:INDEX``, stable for the same arguments."""
    for i, ex in enumerate(ds):
        a = ex[audio_column] or {}
        src = a.get("bytes") or a.get("path")
        yield Track(f"{name}:{split}:{i}", src if src is not None else b"")


def read_source(source: str | bytes) -> str | bytes:
    """What the decoder takes for a track's source: a local path or bytes as they are, a remote URL
    read whole (at most :data:`MAX_URL_BYTES`). Raises ``OSError`` or ``ValueError``."""
    if isinstance(source, bytes) or not is_url(source):
        return source
    local = _local_path(source)
    if local is not None:
        return local
    import fsspec

    with fsspec.open(source, "rb") as fh:
        data = fh.read(MAX_URL_BYTES + 1)
    if len(data) > MAX_URL_BYTES:
        raise ValueError(f"over {MAX_URL_BYTES >> 20} MiB")
    return data


# ---------------------------------------------------------------- stages

def theory_stage(track: Track, max_duration: float = MAX_DURATION, genre: bool = True) -> tuple[dict, np.ndarray | None]:
    """Decode one track and run the theory report: its row (:data:`COLUMNS`, genre columns empty)
    and, when ``genre`` and the track decoded, its mono 16-kHz float32 samples for the genre stage.
    Never raises: any failure becomes the row's error."""
    try:
        try:
            src = read_source(track.source)
        except (OSError, ValueError) as e:
            code = "too_large" if isinstance(e, ValueError) else "unreadable"
            return error_row(track.id, code, f"cannot read {track.id}: {e}"), None
        theory, y, sr = analyze_theory(src, max_duration=max_duration)
        if theory["status"] != "ok":
            return error_row(track.id, theory["error_code"], theory["error"]), None
        report = dict(theory["theory"])
        report.pop("elapsed_s", None)  # rows are the same whichever run made them
        row = empty_row(track.id) | {"status": "ok", "duration_s": theory["duration_s"],
                                     **theory_fields(report), "theory_json": json.dumps(report)}
        return row, (resample(y, sr, SAMPLE_RATE) if genre else None)
    except Exception as e:  # a bug in an analyser must not stop the job: the row says what it was
        return error_row(track.id, "internal", f"{type(e).__name__}: {e}"), None


class GenreStage:
    """The genre columns of analysed tracks, with the windows of several tracks in each forward
    pass (``classifier.batch_size`` windows)."""

    def __init__(self, classifier, max_duration: float = MAX_DURATION):
        self.classifier, self.max_duration = classifier, max_duration

    def cut(self, row: dict, y16: np.ndarray | None):
        """The track's windows (:class:`genre_model.predict.SongWindows`), or None with the row's
        ``genre_error`` set (e.g. digital silence, which the theory report still describes)."""
        if y16 is None or row["status"] != "ok":
            return None
        try:
            y = decode_audio(y16, sr=SAMPLE_RATE, max_duration=self.max_duration)[0]
        except AudioError as e:
            row["genre_error"] = f"{e.code}: {e}"
            return None
        return self.classifier.cut(y)

    def complete(self, items: list[tuple[dict, object]]) -> list[dict]:
        """Fill the genre columns of ``(row, song)`` pairs (``song`` from :meth:`cut`, or None)
        with one batched pass over all their windows; returns the rows."""
        songs = [s for _, s in items if s is not None]
        if songs:
            probs = self.classifier.window_probabilities(np.concatenate([s.batch for s in songs]))
            at = 0
            for row, song in items:
                if song is None:
                    continue
                n = len(song.windows)
                pred = self.classifier.assemble(song, probs[at:at + n], top_k=len(self.classifier.labels))
                at += n
                row |= genre_fields(pred)
        return [row for row, _ in items]


def genre_fields(pred) -> dict:
    """The genre columns of a :class:`genre_model.predict.GenrePrediction`."""
    return {"genre": pred.top[0].label, "genre_score": pred.top[0].score,
            "genre_probabilities": [{"label": t.label, "score": t.score} for t in pred.top],
            "genre_windows": [{"start": w.start, "end": w.end, "label": w.label, "score": w.score}
                              for w in pred.timeline],
            "genre_windows_total": pred.windows_total, "genre_windows_silent": pred.windows_silent,
            "genre_model": pred.model}


# ---------------------------------------------------------------- output

class ParquetStore:
    """``OUT_DIR/part-NNNNNN.parquet`` files of :data:`COLUMNS` rows.

    Rows are buffered and written as one part every ``rows_per_file`` rows or ``flush_seconds``
    (to a temporary name, then renamed, so a part is whole or absent); :attr:`done` holds the
    tracks already written by earlier runs, less those whose row is an error with a code in
    ``retry_codes`` ("all" for every code): those are analysed again, and :meth:`compact` then
    drops their old rows, so each track has one row."""

    def __init__(self, folder: str | os.PathLike, *, overwrite: bool = False,
                 rows_per_file: int = DEFAULT_ROWS_PER_FILE, flush_seconds: float = DEFAULT_FLUSH_SECONDS,
                 retry_codes: Iterable[str] = ()):
        import pyarrow.parquet as pq

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in self.folder.glob("*.parquet.tmp"):  # a part a killed run was writing
            f.unlink()
        parts = self.parts()
        if overwrite:
            for f in parts + [self.folder / "_summary.json"]:
                f.unlink(missing_ok=True)
            parts = []
        self.done: set[str] = set()
        self.retried: set[str] = set()  # failed tracks of earlier runs analysed again in this one
        retry = set(retry_codes)
        for f in parts:
            meta = pq.read_schema(f).metadata or {}
            version = meta.get(b"genre_model.batch.schema", b"?").decode()
            if version != SCHEMA_VERSION:
                raise ValueError(f"{f} was written with schema version {version}, this job writes "
                                 f"{SCHEMA_VERSION}: use another output folder or --overwrite")
            t = pq.read_table(f, columns=["track", "status", "error_code"]).to_pydict()
            for track, status, code in zip(t["track"], t["status"], t["error_code"]):
                if status == "ok" or not ("all" in retry or code in retry):
                    self.done.add(track)
                else:
                    self.retried.add(track)
        self.seq = max((int(f.stem.split("-")[1]) for f in parts), default=-1) + 1
        self.rows_per_file, self.flush_seconds = max(1, rows_per_file), flush_seconds
        self.buffer: list[dict] = []
        self.last_flush = time.monotonic()
        self.written = Counter()

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def write(self, row: dict) -> None:
        self.buffer.append(row)
        self.written[row["status"]] += 1
        if len(self.buffer) >= self.rows_per_file or time.monotonic() - self.last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        final = self.folder / f"part-{self.seq:06d}.parquet"
        tmp = final.with_name(final.name + ".tmp")
        pq.write_table(pa.Table.from_pylist(self.buffer, schema=schema()), tmp)
        os.replace(tmp, final)
        self.done.update(r["track"] for r in self.buffer)
        self.seq += 1
        self.buffer = []

    def compact(self) -> None:
        """Drop the older rows of retried tracks, keeping each one's newest row (this run's, or that
        of a retry cut short before compacting); each part changed is rewritten whole under a
        temporary name, then renamed. Nothing to do without retries."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        redone = self.retried & self.done  # retried and written by now
        if not redone:
            return
        parts = [(int(f.stem.split("-")[1]), f) for f in self.parts()]
        newest: dict[str, int] = {}
        for seq, f in parts:
            newest.update((t, seq) for t in pq.read_table(f, columns=["track"]).column("track").to_pylist()
                          if t in redone)
        for seq, f in parts:
            stale = sorted(t for t, last in newest.items() if last > seq)
            if not stale:
                continue
            t = pq.read_table(f)
            drop = pc.is_in(t.column("track"), value_set=pa.array(stale, type=pa.string()))
            if pc.any(drop).as_py():
                tmp = f.with_name(f.name + ".tmp")
                pq.write_table(t.filter(pc.invert(drop)), tmp)
                os.replace(tmp, f)


def read_rows(folder: str | os.PathLike) -> list[dict]:
    """Every track's row in a job's output folder, sorted by track (the newest part's row where a
    retry that was cut short left two)."""
    import pyarrow.parquet as pq

    rows = {r["track"]: r for f in sorted(Path(folder).glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()}
    return [rows[k] for k in sorted(rows)]


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child."""
    kib = lambda who: resource.getrusage(who).ru_maxrss / 1024  # noqa: E731 (Linux reports KiB)
    return {"job": round(kib(resource.RUSAGE_SELF), 1), "largest_worker": round(kib(resource.RUSAGE_CHILDREN), 1)}


def summarize(folder: Path, run: dict) -> dict:
    """``_summary.json``: counts over the whole output (all runs) and this run's throughput."""
    import pyarrow.parquet as pq

    latest: dict[str, tuple[str, str | None]] = {}
    for f in sorted(folder.glob("part-*.parquet")):
        t = pq.read_table(f, columns=["track", "status", "error_code"]).to_pydict()
        latest.update(zip(t["track"], zip(t["status"], t["error_code"])))
    status = Counter(st for st, _ in latest.values())
    codes = Counter(c for st, c in latest.values() if c)
    summary = {"schema_version": SCHEMA_VERSION, "tracks": sum(status.values()), "ok": status["ok"],
               "failed": status["error"], "failed_by_reason": dict(sorted(codes.items())), "this_run": run}
    (folder / "_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ---------------------------------------------------------------- engines

@dataclass
class JobConfig:
    """What every stage needs to know (picklable: Ray ships it to the cluster)."""

    max_duration: float = MAX_DURATION
    genre: bool = True
    model: str | None = None
    device: str = "cpu"
    precision: str = "auto"
    engine: str = "auto"
    genre_batch: int = 8  # windows per forward pass
    hop: float = 30.0
    max_windows: int | None = None
    threads: int | None = None

    def classifier(self):
        from .predict import GenreClassifier

        return GenreClassifier(self.model, device=self.device, precision=self.precision, engine=self.engine,
                               batch_size=self.genre_batch, hop=self.hop, max_windows=self.max_windows,
                               threads=self.threads, max_duration=self.max_duration)


def _emit(store: ParquetStore, row: dict, progress) -> None:
    """Write one finished row; a failed track gets one log line."""
    store.write(row)
    if row["status"] != "ok":
        msg = f"skipped {row['track']}: {row['error']}"
        if progress is not None:
            progress.write(msg, file=sys.stderr)
        else:
            log.warning(msg)
    if progress is not None:
        progress.update(1)


def _worker_init() -> None:
    """One thread per worker process: the pool already uses every core. numpy's BLAS is loaded by
    now (this module imports numpy), so its pool is limited through threadpoolctl (scikit-learn's,
    which librosa brings); the variables cover libraries loaded later."""
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    logging.basicConfig(level=logging.WARNING, format="%(message)s")


def run_local(tracks: Iterable[Track], store: ParquetStore, cfg: JobConfig, *, workers: int | None = None,
              genre_stage: GenreStage | None = None, progress=None, task=None) -> None:
    """The local engine (module docstring): rows of ``tracks`` written to ``store``.

    ``task(track, max_duration, genre) -> (row, y16)`` runs in the workers (default
    :func:`theory_stage`; a picklable module-level function)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = max(1, workers or os.cpu_count() or 1)
    max_inflight = 2 * workers
    ctx = mp.get_context("spawn")  # not fork: this process holds torch's threads and the model
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)
    inflight: dict = {}  # future -> (Track, submitted alone after a crash)
    suspects: deque[Track] = deque()  # in flight when a worker died: retried one at a time
    waiting: list[tuple[dict, object]] = []  # analysed tracks waiting for the genre model
    waiting_windows = 0
    it = iter(tracks)
    exhausted = False

    def submit(t: Track, alone: bool) -> None:
        inflight[pool.submit(task or theory_stage, t, cfg.max_duration, cfg.genre)] = (t, alone)

    def take(row: dict, y16) -> None:
        nonlocal waiting_windows
        song = genre_stage.cut(row, y16) if genre_stage else None
        waiting.append((row, song))
        waiting_windows += len(song.windows) if song is not None else 0

    def run_genre() -> None:
        nonlocal waiting, waiting_windows
        rows = genre_stage.complete(waiting) if genre_stage else [r for r, _ in waiting]
        waiting, waiting_windows = [], 0
        for r in rows:
            _emit(store, r, progress)

    try:
        while True:
            # backpressure: at most max_inflight tracks in the workers, none while the model lags
            while waiting_windows < 4 * cfg.genre_batch:
                if suspects:
                    if not inflight:
                        submit(suspects.popleft(), True)
                    break
                if exhausted or len(inflight) >= max_inflight:
                    break
                t = next(it, None)
                if t is None:
                    exhausted = True
                    break
                submit(t, False)
            if not inflight:
                if waiting:
                    run_genre()
                if exhausted and not suspects:
                    break
                continue
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            if any(f.exception() is not None for f in done):  # a worker died: the pool is broken
                pool = _after_crash(pool, inflight, suspects, take, lambda: ProcessPoolExecutor(
                    workers, mp_context=ctx, initializer=_worker_init))
            else:
                for f in done:
                    take(*f.result())
                    del inflight[f]
            if waiting and (waiting_windows >= cfg.genre_batch or not genre_stage or not inflight):
                run_genre()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _after_crash(pool, inflight: dict, suspects: deque, take, new_pool):
    """Sort out the tracks of a broken pool: results that came back are kept; a track that was
    alone in the pool is recorded as ``worker_crashed``; the others become suspects."""
    from concurrent.futures import wait

    wait(list(inflight))
    for f, (t, alone) in inflight.items():
        if f.exception() is None:
            take(*f.result())
        elif alone:
            take(error_row(t.id, "worker_crashed", f"analysing {t.id} killed its worker process "
                           f"({type(f.exception()).__name__}), also when retried alone"), None)
        else:
            suspects.append(t)
    inflight.clear()
    pool.shutdown(wait=True, cancel_futures=True)
    return new_pool()


CHUNK_BYTES = 256 << 20  # a Ray chunk of tracks given as bytes (a dataset's audio) holds at most this much


def _chunks(tracks: Iterable[Track], max_tracks: int, max_bytes: int) -> Iterator[list[Track]]:
    """Consecutive lists of at most ``max_tracks`` tracks and ``max_bytes`` of inline audio bytes."""
    batch, size = [], 0
    for t in tracks:
        n = len(t.source) if isinstance(t.source, bytes) else 0
        if batch and (len(batch) >= max_tracks or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(t)
        size += n
    if batch:
        yield batch


def _ray_theory(item: dict, cfg: JobConfig) -> dict:
    """Ray Data task: one track's theory row (as JSON, so every row has one Arrow type) and its
    16-kHz samples for the genre actors (empty when there is no genre to run)."""
    _worker_init()
    src = item["data"] if item["data"] is not None else item["path"]
    row, y16 = theory_stage(Track(item["track"], src), cfg.max_duration, cfg.genre)
    return {"track": item["track"], "row": json.dumps(row),
            "audio": y16.astype(np.float32) if y16 is not None else np.zeros(0, np.float32)}


class _RayGenre:
    """Ray Data actor: the genre model, loaded once per actor, over batches of analysed tracks."""

    def __init__(self, cfg: JobConfig):
        self.stage = GenreStage(cfg.classifier(), cfg.max_duration)

    def __call__(self, batch: dict) -> dict:
        items = []
        for row_json, y16 in zip(batch["row"], batch["audio"]):
            row = json.loads(row_json)
            items.append((row, self.stage.cut(row, np.asarray(y16, np.float32) if len(y16) else None)))
        return {"track": batch["track"], "row": np.array([json.dumps(r) for r in self.stage.complete(items)], dtype=object)}


def run_ray(tracks: Iterable[Track], store: ParquetStore, cfg: JobConfig, *, address: str | None = None,
            num_cpus: int | None = None, genre_actors: int = 1, actor_cpus: float = 1.0, actor_gpus: float = 0.0,
            tracks_per_batch: int = 4, chunk: int = 1000, progress=None) -> None:
    """The Ray engine (module docstring): rows of ``tracks`` written to ``store`` by this driver.

    ``address`` None starts a local cluster of ``num_cpus`` CPUs ("auto" joins the one this
    machine belongs to, as ``ray job submit`` sets it); tracks go to the cluster ``chunk`` at a time
    so the driver's memory stays bounded for any number of tracks."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    for name in ("ray", "ray.data"):  # the progress bar and the failed tracks are ours to report
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx.enable_progress_bars = False
    ctx.max_errored_blocks = -1  # a track whose task fails after its retries is recorded below, not fatal
    for batch in _chunks(tracks, chunk, CHUNK_BYTES):
        items = [{"track": t.id, "path": t.source if isinstance(t.source, str) else None,
                  "data": t.source if isinstance(t.source, bytes) else None} for t in batch]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        # a task whose worker dies (a node lost, a decoder crash) is retried 3 times, not forever
        # (Ray's default); Ray 2.60 has no named parameter for it yet, hence the pin below 2.64
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map(_ray_theory, fn_kwargs={"cfg": cfg}, num_cpus=1, max_retries=3)
        if cfg.genre:
            if cfg.device == "cpu" and cfg.threads is None:  # an actor computes on the CPUs it reserved
                cfg = replace(cfg, threads=max(1, int(actor_cpus)))
            ds = ds.map_batches(_RayGenre, fn_constructor_kwargs={"cfg": cfg}, batch_size=tracks_per_batch,
                                concurrency=genre_actors, num_cpus=actor_cpus, num_gpus=actor_gpus,
                                batch_format="numpy")  # Ray Data restarts a dead actor and retries its batch
        seen: set[str] = set()
        failure = None
        try:
            for r in ds.iter_rows():
                row = json.loads(r["row"])
                seen.add(row["track"])
                _emit(store, row, progress)
        except Exception as e:  # the cluster gave up on part of this chunk: those tracks are recorded
            failure = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log.warning("ray: %s", failure)
        for t in batch:
            if t.id not in seen:
                _emit(store, error_row(t.id, "worker_crashed", f"the Ray task for {t.id} failed after its retries"
                                       + (f" ({failure})" if failure else "")), progress)


# ---------------------------------------------------------------- CLI

def iter_tracks(args) -> Iterator[Track]:
    """Every track the command line names: inputs and ``--list`` files first, then ``--dataset``
    (opened here, so a missing dataset is reported before any work)."""
    inputs = list(args.inputs)
    for lst in args.list or []:
        inputs += read_list(lst)
    ds = args.dataset and open_dataset(args.dataset, split=args.split, config=args.dataset_config,
                                       audio_column=args.audio_column, streaming=args.streaming)
    paths = iter_paths(inputs)
    return chain(paths, dataset_tracks(ds, args.dataset, args.split, args.audio_column)) if ds else paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="genre-batch", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="audio files, folders (searched recursively) and fsspec URLs")
    ap.add_argument("-o", "--output", required=True, help="output folder (Parquet parts + _summary.json)")
    ap.add_argument("--list", action="append", metavar="FILE", help="a text file of paths/URLs, one per line")
    ap.add_argument("--dataset", help="a datasets dataset with an audio column: Hub id or save_to_disk folder")
    ap.add_argument("--dataset-config", default=None, help="the dataset's configuration name")
    ap.add_argument("--split", default="train")
    ap.add_argument("--audio-column", default="audio")
    ap.add_argument("--streaming", action="store_true", help="stream the dataset instead of downloading it")
    ap.add_argument("--engine", choices=("local", "ray"), default="local")
    ap.add_argument("--workers", type=int, default=None, help="local engine: theory processes (default: one per core)")
    ap.add_argument("--no-genre", dest="genre", action="store_false", help="theory only")
    ap.add_argument("--model", default=None, help="genre model: Hub id or folder (default: $GENRE_MODEL or the "
                                                  "published default, see genre-predict --help)")
    ap.add_argument("--device", default=None, help="genre model device (default: cuda when there is a GPU)")
    ap.add_argument("--precision", default="auto", help="see genre-predict --help")
    ap.add_argument("--genre-batch", type=int, default=None, help="windows per forward pass (default 8 on CPU, 64 on GPU)")
    ap.add_argument("--max-minutes", type=float, default=MAX_DURATION / 60,
                    help=f"longest file accepted (default {limit_text()})")
    ap.add_argument("--rows-per-file", type=int, default=DEFAULT_ROWS_PER_FILE)
    ap.add_argument("--flush-seconds", type=float, default=DEFAULT_FLUSH_SECONDS,
                    help="write a part at least this often (what a killed job can lose)")
    ap.add_argument("--overwrite", action="store_true", help="delete OUT_DIR's parts and start afresh")
    ap.add_argument("--retry-errors", default="", metavar="CODES",
                    help="analyse again the tracks whose row is an error with one of these codes "
                         "(comma-separated, e.g. unreadable,worker_crashed; 'all'); their old rows are replaced")
    ray_args = ap.add_argument_group("ray engine")
    ray_args.add_argument("--ray-address", default=None, help="cluster to join ('auto' inside `ray job submit`; "
                                                             "default: start a local one)")
    ray_args.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local cluster (default: all)")
    ray_args.add_argument("--genre-actors", type=int, default=1, help="genre model actors (one per GPU)")
    ray_args.add_argument("--actor-gpus", type=float, default=None, help="GPUs per genre actor (default: 1 when "
                                                                         "--device cuda, else 0)")
    ray_args.add_argument("--actor-cpus", type=float, default=1.0,
                          help="CPUs each genre actor reserves (a CPU actor computes with that many threads; "
                               "0: reserve none, one thread)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.inputs and not args.list and not args.dataset:
        ap.error("give audio files, folders or URLs, --list FILE or --dataset NAME")

    from importlib.util import find_spec

    if find_spec("pyarrow") is None:
        print("error: the batch job writes Parquet: pip install 'genre-model[batch]'", file=sys.stderr)
        return 2
    if args.engine == "ray" and find_spec("ray") is None:
        print("error: --engine ray needs Ray: pip install 'genre-model[ray]'", file=sys.stderr)
        return 2
    try:
        store = ParquetStore(args.output, overwrite=args.overwrite, rows_per_file=args.rows_per_file,
                             flush_seconds=args.flush_seconds,
                             retry_codes=[c.strip() for c in args.retry_errors.split(",") if c.strip()])
    except (OSError, ValueError) as e:
        print(f"error: cannot use {args.output}: {e}", file=sys.stderr)
        return 2

    cfg = JobConfig(max_duration=args.max_minutes * 60, genre=args.genre, precision=args.precision)
    genre_stage = None
    if args.genre:
        import torch

        from .model import ModelLoadError
        from .predict import DEFAULT_MODEL

        cfg.model = args.model or os.environ.get("GENRE_MODEL", DEFAULT_MODEL)
        cfg.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        cfg.genre_batch = args.genre_batch or (64 if cfg.device.startswith("cuda") else 8)
        try:  # load here, once, so a missing model is one clear message before any work
            classifier = cfg.classifier()
        except ModelLoadError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.engine == "local":
            genre_stage = GenreStage(classifier, cfg.max_duration)
        else:
            cfg.model = classifier.name
            del classifier

    t0 = time.perf_counter()
    before = set(store.done)
    try:
        todo = (t for t in iter_tracks(args) if t.id not in before)
        total = None
        if not args.dataset:  # paths and URLs are listed up front (a dataset's bytes are not)
            todo = list(todo)
            total = len(todo)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: cannot read the inputs: {e}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    progress = tqdm(total=total, desc="tracks", unit="track", disable=None, file=sys.stderr)
    try:
        if args.engine == "local":
            run_local(todo, store, cfg, workers=args.workers, genre_stage=genre_stage, progress=progress)
        else:
            run_ray(todo, store, cfg, address=args.ray_address, num_cpus=args.ray_cpus,
                    genre_actors=args.genre_actors, actor_cpus=args.actor_cpus,
                    actor_gpus=args.actor_gpus if args.actor_gpus is not None else float(cfg.device.startswith("cuda")),
                    progress=progress)
    except KeyboardInterrupt:
        print("interrupted: the finished rows are kept; run the same command again to go on", file=sys.stderr)
        return 130
    finally:
        store.flush()
        store.compact()
        progress.close()
    seconds = time.perf_counter() - t0
    n = sum(store.written.values())
    run = {"engine": args.engine, "tracks": n, "ok": store.written["ok"], "failed": store.written["error"],
           "already_done": len(before), "seconds": round(seconds, 2),
           "tracks_per_minute": round(60 * n / seconds, 2) if seconds > 0 else None,
           "peak_rss_mib": peak_rss_mib(), "genre_model": cfg.model if args.genre else None}
    summary = summarize(store.folder, run)
    reasons = ", ".join(f"{c} {k}" for k, c in summary["failed_by_reason"].items())
    print(f"{run['ok']} of {n} tracks analysed in {seconds:.0f} s ({run['tracks_per_minute']} per minute)"
          + (f"; {len(before)} already in {args.output}" if before else "")
          + f"; output holds {summary['tracks']} tracks" + (f", {summary['failed']} failed: {reasons}" if reasons else ""),
          file=sys.stderr)
    return 1 if run["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
