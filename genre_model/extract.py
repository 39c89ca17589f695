"""Batch extraction: the theory report (and the genre, with ``--genre``) of many files, to JSON
Lines or CSV, as Essentia's extractors are to their users.

    genre-theory FILES_OR_FOLDERS -o OUT.jsonl|OUT.csv [--genre [--model ID_OR_DIR]]
                 [--max-minutes M] [--overwrite]

* folders are searched recursively for audio files; each file is decoded once, at its own rate,
  and that one decode serves the theory report and (resampled to 16 kHz) the genre;
* a file that cannot be used gets a row with ``status: error``, its error code and reason, and
  the run goes on;
* resume: files already in OUT (done or failed) are skipped, new rows are appended, so a killed
  run restarted with the same arguments finishes the rest (``--overwrite`` starts afresh);
* exit status: 0 when every file of this run was analysed, 1 when some failed, 2 for a usage
  problem (no audio files, an unwritable output, a genre model that cannot load).

JSON Lines rows: ``{"file", "status", "duration_s", "summary", "theory", "genre", "genre_error"}``
(``error_code``/``error`` instead when the file failed). CSV rows: the main fields flattened
(:data:`CSV_FIELDS`).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from .audio import MAX_DURATION, MIN_DURATION, SAMPLE_RATE, AudioError, iter_audio_files, limit_text, resample

def theory_fields(th: dict) -> dict:
    """The theory report's main fields (``TheoryReport.to_dict()`` in), typed: numbers stay numbers
    (None where not determinable), chords, progression and quality issues stay lists. The CSV rows
    and the batch job's Parquet rows (:mod:`genre_model.batch`) are both made from these."""
    key, tempo, chords, dyn = th["key"], th["tempo"], th["chords"], th["dynamics"]
    return {"key": key["label"], "key_confidence": key["confidence"], "tuning_cents": key["tuning_cents"],
            "tempo_bpm": tempo["bpm"], "tempo_change": tempo["change"] or None, "tempo_start_bpm": tempo["start_bpm"],
            "tempo_end_bpm": tempo["end_bpm"], "meter": th["meter"]["time_signature"],
            "chords": list(chords["progression_chords"]), "progression": list(chords["progression"]),
            "form": th["structure"]["form"], "integrated_lufs": dyn["integrated_lufs"],
            "loudness_range_lu": dyn["loudness_range_lu"], "true_peak_dbtp": dyn["true_peak_dbtp"],
            "energy": dyn["energy"], "brightness": th["timbre"]["brightness"], "mood": th["mood"]["label"],
            "quality_issues": list(th["quality"]["issues"])}


CSV_FIELDS = [
    "file", "status", "error_code", "error", "duration_s", "key", "key_confidence", "tuning_cents", "tempo_bpm",
    "tempo_change", "tempo_start_bpm", "tempo_end_bpm", "meter", "chords", "progression", "form", "integrated_lufs",
    "loudness_range_lu", "true_peak_dbtp", "energy", "brightness", "mood", "quality_issues", "genre", "genre_score",
    "genre_error",
]
_CSV_JOIN = {"chords": " ", "progression": " ", "quality_issues": "; "}


def csv_row(row: dict) -> dict:
    """Flatten one JSON Lines row to :data:`CSV_FIELDS` (lists joined, None as an empty cell)."""
    out = {k: row.get(k, "") for k in ("file", "status", "error_code", "error", "duration_s", "genre_error")}
    th = row.get("theory")
    if th:
        out |= {k: "" if v is None else _CSV_JOIN[k].join(v) if k in _CSV_JOIN else v
                for k, v in theory_fields(th).items()}
    genre = row.get("genre")
    if genre:
        out |= {"genre": genre["top"][0]["label"], "genre_score": round(genre["top"][0]["score"], 4)}
    return out


def done_files(out: Path) -> set[str]:
    """Files that already have a row in ``out`` (JSON Lines or CSV); a torn last line is ignored."""
    if not out.exists():
        return set()
    if out.suffix.lower() == ".csv":
        with open(out, newline="") as fh:
            return {r["file"] for r in csv.DictReader(fh) if r.get("file")}
    files = set()
    for line in out.read_text().splitlines():
        try:
            files.add(json.loads(line)["file"])
        except (ValueError, KeyError, TypeError):
            continue  # the half-written last line of a killed run: that file is redone
    return files


class Writer:
    """Appends rows to JSON Lines or CSV, flushed per row so a killed run loses none. A CSV to
    resume must have :data:`CSV_FIELDS` as its header (one written by an older version with other
    columns raises ValueError: rows appended under another header would be misread)."""

    def __init__(self, path: Path, overwrite: bool):
        self.path, self.csv = path, path.suffix.lower() == ".csv"
        new = overwrite or not path.exists() or path.stat().st_size == 0
        if not new and self.csv:
            with open(path, newline="") as fh:
                header = next(csv.reader(fh), [])
            if header != CSV_FIELDS:
                raise ValueError(f"{path} has other columns than this version writes (an older version's "
                                 f"output?): use --overwrite or another file")
        if not new and not self.csv:
            with open(path, "rb+") as fh:  # drop a torn last line (no newline) of a killed run
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)
        self.fh = open(path, "w" if new else "a", newline="" if self.csv else None)
        if self.csv:
            self.w = csv.DictWriter(self.fh, CSV_FIELDS)
            if new:
                self.w.writeheader()

    def write(self, row: dict) -> None:
        if self.csv:
            self.w.writerow(csv_row(row))
        else:
            self.fh.write(json.dumps(row) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def analyze_theory(source, *, max_duration: float = MAX_DURATION) -> tuple[dict, np.ndarray | None, int]:
    """The theory part of a row, and the decode that served it.

    Parameters
    ----------
    source : a path or the file's bytes (what :func:`genre_model.theory.report.decode_measured` takes)

    Returns
    -------
    (row, y, sr): row holds ``status`` ("ok" or "error") and ``duration_s``/``summary``/``theory``,
    or ``error_code``/``error``; y is the mono float32 decode at its own rate ``sr`` (Hz), None when
    the file failed.
    """
    from .theory.report import analyze_signal, decode_measured

    try:
        y, sr, loudness = decode_measured(source, max_duration=max_duration, min_duration=MIN_DURATION)
    except AudioError as e:
        return {"status": "error", "error_code": e.code, "error": str(e)}, None, 0
    report, _ = analyze_signal(y, sr, loudness=loudness)
    return {"status": "ok", "duration_s": report.duration_s, "summary": report.summary(),
            "theory": report.to_dict()}, y, sr


def analyze_file(path: str, *, classifier=None, max_duration: float = MAX_DURATION) -> dict:
    """One row: the theory report (and the genre when a classifier is given) of one file, or the
    reason it could not be analysed. One decode serves both."""
    theory, y, sr = analyze_theory(path, max_duration=max_duration)
    row = {"file": path} | theory
    if classifier is not None and y is not None:
        try:
            row["genre"] = classifier.predict(resample(y, sr, SAMPLE_RATE), sr=SAMPLE_RATE).to_dict()
        except AudioError as e:  # e.g. digital silence: the report still describes it
            row["genre_error"] = f"{e.code}: {e}"
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="genre-theory", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    ap.add_argument("-o", "--output", required=True, help="OUT.jsonl (JSON Lines) or OUT.csv")
    ap.add_argument("--genre", action="store_true", help="also the genre (Whisper model; see --model)")
    ap.add_argument("--model", default=None, help="genre model: Hub id or folder (default: $GENRE_MODEL or the "
                                                  "published default, see genre-predict --help)")
    ap.add_argument("--max-minutes", type=float, default=MAX_DURATION / 60,
                    help=f"longest file accepted (default {limit_text()})")
    ap.add_argument("--overwrite", action="store_true", help="start a new OUT instead of resuming it")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    files = [str(f) for f in iter_audio_files(args.inputs)]
    if not files:
        print("error: no audio files found in the given inputs", file=sys.stderr)
        return 2
    out = Path(args.output)
    done = set() if args.overwrite else done_files(out)
    todo = [f for f in files if f not in done]
    classifier = None
    if args.genre and todo:
        from .model import ModelLoadError
        from .predict import DEFAULT_MODEL, GenreClassifier

        try:
            classifier = GenreClassifier(args.model or os.environ.get("GENRE_MODEL", DEFAULT_MODEL),
                                         max_duration=args.max_minutes * 60)
        except ModelLoadError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(out, args.overwrite)
    except OSError as e:
        print(f"error: cannot write {out}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    failed = 0
    try:
        for f in tqdm(todo, desc="theory", unit="file", disable=None):
            row = analyze_file(f, classifier=classifier, max_duration=args.max_minutes * 60)
            if row["status"] != "ok":
                failed += 1
                tqdm.write(f"skipped {f}: {row['error']}", file=sys.stderr)
            writer.write(row)
    finally:
        writer.close()
    print(f"{len(todo) - failed} of {len(todo)} files analysed"
          + (f", {failed} skipped (reasons in {out})" if failed else "")
          + (f"; {len(files) - len(todo)} already in {out}" if len(todo) < len(files) else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
