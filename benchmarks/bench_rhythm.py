"""Rhythm (tempo, beats, downbeats, meter) on independent sources, with librosa and Essentia
beside the project in the same run.

    python benchmarks/bench_rhythm.py [--sources generator,scores,charts,lmms,hydrogen] [--limit N]

Sources, each on its own row:

* ``generator``: the project's own MIDI generator (benchmarks/synth.py), its held-out split
  (seed % 5 == 0, 96 clips of 30 s);
* ``scores``: real compositions from the music21 corpus rendered with FluidSynth
  (benchmarks/scores.py: 118 excerpts of ~40 s; chorales, madrigals, quartets, piano pieces,
  folk tunes; 2/4 3/4 4/4 6/8 9/8 12/8; anacruses, fermatas, ritardandi, accelerandi);
* ``charts``: 8 real metal / rock recordings (Debian's fretsonfire-songs-muldjord and -sectoid,
  stems mixed) with the game charts' tempo map as beat truth (benchmarks/real_music.chart_truth);
* ``lmms``: the 18 demo songs in 4/4 that LMMS ships (Debian's ``lmms``: electronic, house,
  reggae, chiptune, by their credited authors), rendered by LMMS, with each project's tempo and bars
  as truth (benchmarks/real_music.lmms_truth). No parameter is fitted on them: every row of this
  source is held out from every fit. LMMS renders a song differently each time, so the songs are
  rendered twice and the second render is a row of its own (``lmms render 2``): the spread
  between the two rows is how far one render moves the figures;
* ``hydrogen``: the 7 demo songs Hydrogen ships (Debian's ``hydrogen``: drum grooves in 4/4 by
  its authors, rock, funk, a Bo Diddley beat, a swung ride pattern, TR-808; 98-125 BPM, 20 s to
  4 min), rendered by its ``h2cli`` with real sampled kits, each song's tempo and bar as truth
  (benchmarks/real_music.hydrogen_truth). Fitted on nothing, like LMMS.

Metrics (mir_eval): tempo Acc1 (within 4 %), Acc2 (x2, x1/2, x3, x1/3 allowed), beat F-measure
(70 ms), downbeat F-measure (70 ms, on the bar lines), meter accuracy (the time signature string;
librosa and Essentia have no meter, their row is "always 4/4", the commonest answer), and the same
with a bar of 2 beats taken for one of 4 (2/4 = 4/4, 6/8 = 12/8: a bar and its double, which the
rendered scores' drum part and even dynamics do not tell apart).
Baselines: ``librosa.beat.beat_track`` (22.05 kHz, hop 512) and Essentia's
``RhythmExtractor2013(method="multifeature")`` (44.1 kHz; AGPL, a benchmark-only extra:
``pip install essentia``). Baseline answers are cached in benchmarks/.cache/rhythm-baselines.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.common import print_table, read_fit  # noqa: E402
from benchmarks.scores import RhythmTruth  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
BASELINE_CACHE = CACHE / "rhythm-baselines.json"


def generator_items(split: str = "test") -> list[tuple[Path, RhythmTruth]]:
    """The generator's clips of one split (``dev``, ``test`` or ``all``) as rhythm truth."""
    from benchmarks.theory_dataset import N_CLIPS, _clip, split_of

    out = []
    for seed in range(N_CLIPS):
        if split != "all" and split_of(seed) != split:
            continue
        wav, t = _clip(seed)
        out.append((wav, RhythmTruth("generator", f"seed {seed}", t.tempo, t.meter, t.beats, t.downbeats,
                                     t.duration, style="generator", drums=t.drums)))
    return out


def score_items() -> list[tuple[Path, RhythmTruth]]:
    from benchmarks import scores

    return scores.build()


def chart_items() -> list[tuple[Path, RhythmTruth]]:
    """The Frets on Fire songs mixed to one wav each (cached), with their chart truth."""
    import soundfile as sf

    from benchmarks.real_music import chart_truth, fretsonfire_songs, mix_stems

    out = []
    folder = CACHE / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    for d in fretsonfire_songs():
        wav, meta = folder / f"{d.name.replace(' ', '_')}.wav", folder / f"{d.name.replace(' ', '_')}.json"
        if not (wav.exists() and meta.exists()):
            y, sr = mix_stems(d)
            sf.write(wav, y, sr)
            meta.write_text(json.dumps(chart_truth(d).to_dict()))
        out.append((wav, RhythmTruth(**json.loads(meta.read_text()))))
    return out


def lmms_items(workers: int = 2, render: int = 1) -> list[tuple[Path, RhythmTruth]]:
    """The LMMS demo songs rendered by LMMS (cached), with the projects' tempo and bars as truth.
    Only songs in one of the meters the analyser names (4/4, 3/4, ...: two demos set their bar to
    8/4 and 1/1) are used. No parameter is fitted on them: they are held out from every fit.

    LMMS does not render a song the same way twice (its oscillators' phases and noise differ: the
    difference of two renders of one demo is 0-111 % of the signal's RMS, median 44 %), and on a
    few songs that moves what every system reads. ``render`` = 2, 3... renders the songs again into
    their own cache folder, as the source "lmms render <n>", so the benchmark shows that spread
    beside the first render."""
    from benchmarks.real_music import lmms_head, lmms_projects, lmms_truth, render_lmms
    from genre_model.theory.meter import CANDIDATES

    named = {c[0] for c in CANDIDATES}
    projects = [p for p in lmms_projects() if "{1}/{2}".format(*lmms_head(p)) in named]
    source = "lmms" if render == 1 else f"lmms render {render}"
    return _rendered(CACHE / ("lmms" if render == 1 else f"lmms-render{render}"), projects, render_lmms, lmms_truth,
                     source, workers)


def hydrogen_items(workers: int = 2, humanize: bool = True) -> list[tuple[Path, RhythmTruth]]:
    """The Hydrogen demo songs (drum grooves) rendered by ``h2cli`` (cached), with each song's tempo
    and bar as truth; songs that change tempo or bar length are left out (none of the seven
    shipped). No parameter is fitted on them.

    Six of the songs humanize their timing and velocity, so every render differs (as LMMS's do);
    the cached render is one draw. ``humanize=False`` renders them with it off, the same audio on
    every machine, as the source "hydrogen quantized"."""
    from benchmarks.real_music import hydrogen_head, hydrogen_songs, hydrogen_truth, render_hydrogen

    songs = [s for s in hydrogen_songs() if hydrogen_head(s) is not None]
    if humanize:
        return _rendered(CACHE / "hydrogen", songs, render_hydrogen, hydrogen_truth, "hydrogen", workers)
    return _rendered(CACHE / "hydrogen-quantized", songs, partial(render_hydrogen, humanize=False), hydrogen_truth,
                     "hydrogen quantized", workers)


def _rendered(folder: Path, projects: list[Path], render, truth, source: str,
              workers: int) -> list[tuple[Path, RhythmTruth]]:
    """Each project rendered to ``folder/<stem>.flac`` by ``render(project, out)`` once, its
    ``truth(project, audio)`` kept beside it as JSON; (audio, truth as ``source``) per project."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(p, folder / f"{p.stem}.flac") for p in projects if not (folder / f"{p.stem}.json").exists()]
    if todo:
        with ProcessPoolExecutor(workers) as ex:
            list(ex.map(render, *zip(*todo)))
        for p, out in todo:
            (folder / f"{p.stem}.json").write_text(json.dumps(truth(p, out).to_dict()))
    return [(folder / f"{p.stem}.flac", replace(RhythmTruth(**json.loads((folder / f"{p.stem}.json").read_text())),
                                                source=source))
            for p in projects]


SOURCES = {"generator": generator_items, "scores": score_items, "charts": chart_items, "lmms": lmms_items,
           "lmms-render2": partial(lmms_items, render=2), "hydrogen": hydrogen_items,
           "hydrogen-quantized": partial(hydrogen_items, humanize=False)}
FITTED_SOURCES = ("generator", "scores", "charts")  # what fit_octave.py and fit_meter.py fit on


LOSO = {"octave": CACHE / "octave-loso.json", "meter": CACHE / "meter-loso.json"}  # written by fit_octave / fit_meter


def _shipped() -> dict[str, dict[str, float]]:
    from genre_model.theory import meter, tempo

    return {"octave": dict(tempo.OCTAVE_WEIGHTS), "meter": dict(meter.METER_WEIGHTS)}


SHIPPED = _shipped()  # the weights in the code, before any held-out weights are loaded


def held_out_weights(source: str) -> bool:
    """Load into the analysers the weights fitted without ``source`` (benchmarks/fit_octave.py and
    fit_meter.py write them); False (shipped weights, in-sample) when they are missing or were
    fitted on other analyser code (:func:`benchmarks.common.read_fit`). A source
    outside :data:`FITTED_SOURCES` keeps the shipped weights, which never saw it: True."""
    from genre_model.theory import meter, tempo

    if source not in FITTED_SOURCES:  # this worker may have loaded another source's weights before
        tempo.OCTAVE_WEIGHTS.update(SHIPPED["octave"])
        meter.METER_WEIGHTS.update(SHIPPED["meter"])
        return True
    octave, met = (read_fit(p) for p in LOSO.values())
    if octave is None or met is None or source not in octave or source not in met:
        return False
    tempo.OCTAVE_WEIGHTS.update(octave[source])
    meter.METER_WEIGHTS.update(met[source])
    return True


def ours(wav: Path, source: str | None = None) -> dict:
    from genre_model.audio import decode_audio
    from genre_model.theory.meter import estimate_meter
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    held = held_out_weights(source) if source else False

    sig = Signal(decode_audio(wav, target_sr=SR)[0])
    t = estimate_tempo(sig)
    m = estimate_meter(sig, t)
    return {"bpm": t.bpm, "beats": t.beats, "downbeats": m.downbeats, "meter": m.time_signature, "held_out": held,
            "change": t.change, "alternatives": t.alternatives}


def librosa_rhythm(wav: Path) -> dict:
    import librosa

    from genre_model.audio import decode_audio

    y, sr = decode_audio(wav, target_sr=22050)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=512)
    return {"bpm": float(np.atleast_1d(tempo)[0]), "beats": librosa.frames_to_time(beats, sr=sr, hop_length=512).tolist(),
            "downbeats": None, "meter": "4/4"}


def essentia_rhythm(wav: Path) -> dict:
    import essentia.standard as es

    from genre_model.audio import decode_audio

    y, _ = decode_audio(wav, target_sr=44100)
    bpm, beats, *_ = es.RhythmExtractor2013(method="multifeature")(y.astype(np.float32))
    return {"bpm": float(bpm), "beats": [float(b) for b in beats], "downbeats": None, "meter": "4/4"}


SYSTEMS = {"ours": ours, "librosa": librosa_rhythm, "essentia": essentia_rhythm}


BAR_PAIRS = {"2/4": "4/4", "6/8": "12/8"}  # a bar of 2 beats and its double: one answer for meter_or_double


def score(est: dict, truth: RhythmTruth) -> dict:
    import mir_eval

    from benchmarks.theory_eval import tempo_acc

    a1, a2 = tempo_acc(est["bpm"], truth.tempo)
    f = lambda ref, e: float(mir_eval.beat.f_measure(np.asarray(ref, float), np.asarray(e or [], float)))  # noqa: E731
    return {"acc1": a1, "acc2": a2, "beat_f": f(truth.beats, est["beats"]),
            "downbeat_f": f(truth.downbeats, est["downbeats"]) if est["downbeats"] is not None and truth.downbeats else None,
            "meter": float(est["meter"] == truth.meter),
            "meter_or_double": float(BAR_PAIRS.get(est["meter"], est["meter"]) == BAR_PAIRS.get(truth.meter, truth.meter))}


def _run(job) -> tuple[str, str, dict]:
    system, wav, source = job
    import warnings

    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    out = SYSTEMS[system](Path(wav), source) if system == "ours" else SYSTEMS[system](Path(wav))
    out["seconds"] = time.perf_counter() - t
    return system, str(wav), out


def _key(system: str, wav) -> str:
    st = Path(wav).stat()
    return f"{system}|{wav}|{st.st_size}|{st.st_mtime_ns}"


def run(items: list[tuple[Path, RhythmTruth]], systems=("ours", "librosa", "essentia"), workers: int = 2) -> dict:
    """Answers of every system on every item: {system: {wav: answer}} (baselines cached)."""
    cache = json.loads(BASELINE_CACHE.read_text()) if BASELINE_CACHE.exists() else {}
    answers = {s: {} for s in systems}
    jobs = []
    for s in systems:
        for wav, truth in items:
            key = _key(s, wav)
            if s != "ours" and key in cache:
                answers[s][str(wav)] = cache[key]
            else:
                jobs.append((s, str(wav), truth.source))
    with ProcessPoolExecutor(workers) as ex:
        for s, wav, out in ex.map(_run, jobs, chunksize=1):
            answers[s][wav] = out
            if s != "ours":
                cache[_key(s, wav)] = out
    BASELINE_CACHE.write_text(json.dumps(cache))
    return answers


def table(items, answers) -> None:
    """One row per (source, system); the last column says whether 'ours' ran with weights fitted
    on the other sources (held out) or on all of them (in-sample)."""
    rows = []
    by_source = defaultdict(list)
    for wav, t in items:
        by_source[t.source].append((wav, t))
    for source, its in by_source.items():
        for system in answers:
            sc = [score(answers[system][str(w)], t) for w, t in its]
            nod = [s for s, (_, t) in zip(sc, its) if not t.drums]
            dbf = [s["downbeat_f"] for s in sc if s["downbeat_f"] is not None]
            mean = lambda xs, k: f"{100 * np.mean([x[k] for x in xs]):.1f}" if xs else "-"  # noqa: E731
            held = all(answers[system][str(w)].get("held_out") for w, _ in its)
            note = ("other sources (held out)" if held else "all sources (IN-SAMPLE)") if system == "ours" else ""
            right = [s for s in sc if s["acc1"]]  # the meter on the right tactus: what the meter alone gets
            rows.append([source, system, len(its), mean(sc, "acc1"), mean(sc, "acc2"), mean(sc, "beat_f"),
                         mean(nod, "beat_f") + f" ({len(nod)})", f"{100 * np.mean(dbf):.1f}" if dbf else "-",
                         mean(sc, "meter") if system == "ours" else f"({mean(sc, 'meter')})",
                         mean(sc, "meter_or_double") if system == "ours" else f"({mean(sc, 'meter_or_double')})",
                         f"{mean(right, 'meter')} ({len(right)})" if system == "ours" else "", note])
    print_table(["source", "system", "n", "tempo Acc1", "tempo Acc2", "beat F", "beat F no drums (n)", "downbeat F",
                 "meter", "meter, 2/4 = 4/4, 6/8 = 12/8", "meter where Acc1 (n)", "ours fitted on"], rows)


def breakdown(items, answers, by: str) -> None:
    """Ours per value of a truth field (meter, style, curve...), beside the baselines' beat F."""
    groups = defaultdict(list)
    for wav, t in items:
        groups[f"{t.source} {getattr(t, by)}"].append((wav, t))
    rows = []
    for g, its in sorted(groups.items()):
        sc = {s: [score(answers[s][str(w)], t) for w, t in its] for s in answers}
        rows.append([g, len(its), *(f"{100 * np.mean([x['acc1'] for x in sc[s]]):.0f}" for s in answers),
                     *(f"{100 * np.mean([x['beat_f'] for x in sc[s]]):.0f}" for s in answers),
                     f"{100 * np.mean([x['meter'] for x in sc['ours']]):.0f}"])
    print_table([by, "n", *(f"Acc1 {s}" for s in answers), *(f"beat F {s}" for s in answers), "meter ours"], rows)


def tempo_changes(items, answers) -> None:
    """What ours says the tempo does (TempoResult.change), per source and tempo curve: a steady
    item should read "steady", an accelerando "speeds up", a ritardando "slows down"."""
    groups = defaultdict(list)
    for wav, t in items:
        groups[f"{t.source} {t.curve}"].append(answers["ours"][str(wav)].get("change", ""))
    kinds = ("steady", "speeds up", "slows down", "")
    print_table(["tempo curve", "n", *(k or "no tempo / too few beats" for k in kinds)],
                [[g, len(v), *(sum(c == k for c in v) for k in kinds)] for g, v in sorted(groups.items())])


def tempo_alternatives(items, answers) -> None:
    """How often ours offers another tempo reading beside its answer (TempoResult.alternatives:
    readings at least tempo.ALTERNATIVE_MIN_P likely), and where the answer is wrong (not within
    4 %), how often the right tempo is among them."""
    rows = []
    for src in dict.fromkeys(t.source for _, t in items):
        its = [(answers["ours"][str(w)], t) for w, t in items if t.source == src]
        wrong = [(a, t) for a, t in its if a["bpm"] is None or abs(a["bpm"] / t.tempo - 1) > 0.04]
        rows.append([src, len(its), sum(bool(a.get("alternatives")) for a, _ in its), len(wrong),
                     sum(any(abs(b / t.tempo - 1) <= 0.04 for b in a.get("alternatives", [])) for a, t in wrong)])
    print_table(["source", "n", "an alternative offered", "tempo wrong", "the right tempo among the alternatives"], rows)


def no_pulse_signal(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A track with no pulse at the theory's rate: white, pink or brown noise, or ``clicks`` (noise
    bursts of random loudness at Poisson times, 6 per second), peak 0.3."""
    from genre_model.theory.signal import SR

    n = int(seconds * SR)
    w = rng.standard_normal(n)
    if kind == "pink":
        f = np.fft.rfft(w)
        w = np.fft.irfft(f / np.sqrt(np.arange(1, f.size + 1)), n)
    elif kind == "brown":
        w = np.cumsum(w)
        w -= np.convolve(w, np.ones(2000) / 2000, "same")
    elif kind == "clicks":
        w = 0.01 * w
        for i in rng.integers(0, n - 100, int(seconds * 6)):
            w[i: i + 100] += rng.standard_normal(100) * rng.uniform(0.2, 1.0)
    return (0.3 * w / np.abs(w).max()).astype(np.float32)


def noise_clarity(seeds: int = 8) -> None:
    """The highest pulse clarity of tracks without a pulse, per length, against the threshold
    (``tempo.min_pulse_clarity``): what the threshold is set from."""
    from genre_model.theory import tempo as T
    from genre_model.theory.signal import Signal

    kinds = ("white", "pink", "brown", "clicks")
    rng = np.random.default_rng(0)
    print("| seconds | " + " | ".join(kinds) + " | threshold |\n|---|" + "---|" * (len(kinds) + 1))
    for d in (8, 15, 30, 60, 120):
        best = []
        for kind in kinds:
            vals = []
            for _ in range(seeds if d <= 30 else seeds // 2):
                found = T.octave_candidates(Signal(no_pulse_signal(kind, d, rng)))
                vals.append(found.confidence if isinstance(found, T.TempoResult) else found[1])
            best.append(max(vals))
        print(f"| {d} | " + " | ".join(f"{v:.3f}" for v in best) + f" | {T.min_pulse_clarity(d):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--noise", action="store_true", help="only the pulse clarity of noise and random clicks")
    ap.add_argument("--sources", default="generator,scores,charts,lmms,lmms-render2,hydrogen,hydrogen-quantized")
    ap.add_argument("--systems", default="ours,librosa,essentia")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--breakdown", default="meter,style,curve,ensemble")
    args = ap.parse_args()
    if args.noise:
        return noise_clarity()
    items = [it for s in args.sources.split(",") for it in SOURCES[s]()[: args.limit]]
    answers = run(items, tuple(args.systems.split(",")))
    print("Rhythm per independent source (percent; meter of the baselines = always 4/4)\n")
    table(items, answers)
    for by in filter(None, args.breakdown.split(",")):
        print()
        breakdown(items, answers, by)
    if "ours" in answers:
        print()
        tempo_changes(items, answers)
        print()
        tempo_alternatives(items, answers)
    secs = {s: np.mean([a["seconds"] for a in answers[s].values()]) for s in answers}
    print("\nmean seconds per item:", ", ".join(f"{s} {v:.2f}" for s, v in secs.items()))


if __name__ == "__main__":
    main()
