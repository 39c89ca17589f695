"""Rhythm of an earlier release on today's rhythm sources: the goal "no source worse than the
release issue 10 was filed against" needs that release measured on the same items, with the same
scoring, as ``bench_rhythm.py`` measures this one.

    python benchmarks/rhythm_at_revision.py [REV] [--sources generator,scores,...]

REV (default ``c9936bf``, the release the issue was filed against) is exported with ``git archive``
into a temporary folder; its ``genre_model`` runs with this checkout's ``benchmarks`` (items,
renders, truth and scoring), in a child process whose import path puts the old package first.
The release runs with the weights it shipped: at ``c9936bf`` they were fitted on the generator's dev
split, so its generator row (the test split) is from a source it was fitted on, and every other
row is held out. It needs a git checkout with REV in its history, and a release whose analyser
has ``Signal``, ``estimate_tempo(sig)``, ``estimate_meter(sig, tempo)`` and
``decode_audio(..., target_sr=)``; names this checkout's benchmarks import that the release lacks
are filled in the child (weights the release did not have, the list of meters).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ISSUE_10_RELEASE = "c9936bf"
DEFAULT_SOURCES = "generator,scores,charts,lmms,lmms-render2,hydrogen,hydrogen-quantized"


def _fill_missing_names() -> None:
    """Names this checkout's bench_rhythm reads from the analyser at import, which an old release
    may not define (only read, never used to analyse)."""
    from genre_model.theory import meter, tempo

    for module, name, value in ((meter, "METER_WEIGHTS", {}), (tempo, "OCTAVE_WEIGHTS", {}),
                                (meter, "CANDIDATES", (("2/4", 2, False), ("3/4", 3, False), ("4/4", 4, False),
                                                       ("6/8", 2, True), ("9/8", 3, True), ("12/8", 4, True)))):
        if not hasattr(module, name):
            setattr(module, name, value)


def _one(item) -> tuple[str, dict]:
    from benchmarks.bench_rhythm import score
    from genre_model.audio import decode_audio
    from genre_model.theory.meter import estimate_meter
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    _fill_missing_names()
    wav, truth = item
    sig = Signal(decode_audio(wav, target_sr=SR)[0])
    t = estimate_tempo(sig)
    m = estimate_meter(sig, t)
    est = {"bpm": t.bpm, "beats": list(t.beats), "downbeats": list(m.downbeats), "meter": m.time_signature}
    return truth.source, score(est, truth)


def child(rev: str, sources: list[str], workers: int) -> None:
    """Run in the child: analyse every item with the release's package and print the table."""
    import genre_model

    _fill_missing_names()
    from benchmarks import bench_rhythm as br
    from benchmarks.common import print_table

    assert not Path(genre_model.__file__).resolve().is_relative_to(ROOT), genre_model.__file__
    items = [it for s in sources for it in br.SOURCES[s]()]
    with ProcessPoolExecutor(workers) as ex:
        rows = list(ex.map(_one, items, chunksize=1))
    by_source: dict[str, list[dict]] = {}
    for source, sc in rows:
        by_source.setdefault(source, []).append(sc)
    out = []
    for source, sc in by_source.items():
        mean = lambda k: f"{100 * np.mean([s[k] for s in sc]):.1f}"  # noqa: E731
        dbf = [s["downbeat_f"] for s in sc if s["downbeat_f"] is not None]
        fitted = "the generator's dev split (this is its test split)" if source == "generator" else "held out"
        out.append([source, f"{rev}", len(sc), mean("acc1"), mean("acc2"), mean("beat_f"),
                    f"{100 * np.mean(dbf):.1f}" if dbf else "-", mean("meter"), mean("meter_or_double"), fitted])
    print(f"Rhythm of release {rev} (its shipped weights) on this checkout's sources (percent)\n")
    print_table(["source", "release", "n", "tempo Acc1", "tempo Acc2", "beat F", "downbeat F", "meter",
                 "meter, 2/4 = 4/4, 6/8 = 12/8", "its weights fitted on"], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", nargs="?", default=ISSUE_10_RELEASE)
    ap.add_argument("--sources", default=DEFAULT_SOURCES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sources = args.sources.split(",")
    if args.child:
        return child(args.rev, sources, args.workers)
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_rhythm as br

    for s in sources:  # render and cache the items with this checkout's code, before the child reads them
        br.SOURCES[s]()
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.rev}^{{commit}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        print(f"skipped: revision {args.rev} is not in this checkout's git history (a clone with its history has it)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tree, run = Path(tmp) / "tree", Path(tmp) / "run"
        tree.mkdir()
        run.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "genre_model"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        (run / "genre_model").symlink_to(tree / "genre_model")
        (run / "benchmarks").symlink_to(ROOT / "benchmarks")
        env = dict(os.environ, PYTHONPATH=str(run))
        subprocess.run([sys.executable, "-m", "benchmarks.rhythm_at_revision", args.rev, "--sources", args.sources,
                        "--workers", str(args.workers), "--child"], env=env, cwd=run, check=True)


if __name__ == "__main__":
    main()
