"""Real compositions with HUMAN harmonic analyses, rendered: key and chord truth no one here made.

The ``music21`` corpus ships Roman-numeral analyses in RomanText beside their scores:
20 Bach chorales (the Riemenschneider edition, analysed by Andrew Jones, proofread by Dmitri
Tymoczko and Hamish Robb) and 48 Monteverdi madrigals (books 3-5). Each analysis names the key
and, beat by beat, the chord; this module turns it into Harte labels (root + quality: ``F:maj``,
``D:min``, ``C:7``, ``B:dim``...) on the score's clock, and renders the score with FluidSynth at a
steady tempo (so score time maps to seconds linearly; fermatas are not held), in an ensemble drawn
from a seed (organ, strings, choir, piano, brass, woodwinds).

Truth per piece: ``key`` (the analysis's opening key, e.g. "F major"; chorales and madrigals end
in it too), ``chords`` ((start s, end s, Harte label), from each numeral to the next). Pieces whose
analysis does not line up with the score (a different pickup, fewer bars) are skipped, and said.

    python benchmarks/analyses.py      # renders the set into benchmarks/.cache/analyses
"""
from __future__ import annotations

import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import render_cached  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "analyses"
ENSEMBLES = {"organ": 19, "strings": 48, "choir": 52, "piano": 0, "brass": 61, "woodwinds": 71}
TEMPO = {"chorale": (60, 90), "madrigal": (70, 110)}  # quarter notes per minute
MAX_SECONDS = 150.0
# music21's chord names -> Harte qualities (mir_eval's majmin scores maj/min and the sevenths built
# on them; the rest is left out of the score, as MIREX does)
QUALITY = {"major triad": "maj", "minor triad": "min", "diminished triad": "dim", "augmented triad": "aug",
           "dominant seventh chord": "7", "major seventh chord": "maj7", "minor seventh chord": "min7",
           "half-diminished seventh chord": "hdim7", "diminished seventh chord": "dim7"}


@dataclass
class HarmonyTruth:
    source: str  # "chorales" | "madrigals"
    name: str
    key: str  # "F major", "G minor"
    chords: list[tuple[float, float, str]] = field(default_factory=list)
    duration: float = 0.0
    ensemble: str = ""
    bpm: float = 0.0

    def to_dict(self):
        return asdict(self)


def _root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def pairs() -> list[tuple[str, Path, Path]]:
    """(source, analysis, score) for every analysis whose score is in the corpus."""
    root, out = _root(), []
    for rn in sorted(root.glob("bach/choraleAnalyses/*.rntxt")):
        bwv = re.search(r"BWV:\s*([\d.]+)", rn.read_text(errors="replace"))
        score = root / "bach" / f"bwv{bwv.group(1)}.mxl" if bwv else None
        if score is not None and score.exists():
            out.append(("chorales", rn, score))
    for rn in sorted(root.glob("monteverdi/madrigal.*.rntxt")):
        if rn.with_suffix(".mxl").exists():
            out.append(("madrigals", rn, rn.with_suffix(".mxl")))
    return out


MIN_FIT = 0.6  # share of the score's sounding note time inside the analysis's chords, at least

_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _fit(notes: np.ndarray, spans: list[tuple[float, float, set[int]]], shift: float, transpose: int) -> float:
    """Share of sounding note time (notes: rows of onset q, end q, pitch class) whose pitch class
    belongs to the chord the analysis names at that moment, the analysis moved by ``shift``
    quarters and ``transpose`` semitones."""
    inside = total = 0.0
    for t0, t1, pcs in spans:
        a, b = t0 + shift, t1 + shift
        overlap = np.clip(np.minimum(notes[:, 1], b) - np.maximum(notes[:, 0], a), 0, None)
        total += overlap.sum()
        inside += overlap[np.isin(notes[:, 2], [(p + transpose) % 12 for p in pcs])].sum()
    return inside / max(total, 1e-9)


def analysis_truth(rn_path: Path, score) -> tuple[str, list[tuple[float, float, str]]] | None:
    """(key, [(start q, end q, Harte label)]) on the score's quarter-note clock, or None when the
    analysis does not line up with the score.

    Some analyses follow an edition in another key (Riemenschneider transposes a few chorales) or
    count the pickup differently, so the analysis is aligned to the score's notes: of the
    transpositions (12) and shifts (the bar-line shift, +-1 and +-2 quarters), the one under
    whose chords most of the sounding note time falls, if at least :data:`MIN_FIT` of it does."""
    from music21 import converter, roman, stream

    analysis = converter.parse(str(rn_path), format="romanText")
    numerals = list(analysis.recurse().getElementsByClass(roman.RomanNumeral))
    if not numerals:
        return None
    bars = {m.number: float(m.offset) for m in score.parts[0].getElementsByClass(stream.Measure)}
    abars = {m.number: float(m.getOffsetInHierarchy(analysis)) for m in analysis.recurse().getElementsByClass(stream.Measure)}
    shift = None
    for number in sorted(set(bars) & set(abars))[:3]:  # the same clock up to a constant (pickup notation)
        d = bars[number] - abars[number]
        if shift is None:
            shift = d
        elif abs(d - shift) > 1e-6:
            return None
    if shift is None:
        return None
    end = float(score.highestTime)
    notes = np.array([(float(n.offset), float(n.offset + n.quarterLength), p.pitchClass)
                      for n in score.flatten().notes for p in n.pitches])
    spans = []
    for a, b in zip(numerals, numerals[1:] + [None]):
        t0 = float(a.getOffsetInHierarchy(analysis))
        t1 = float(b.getOffsetInHierarchy(analysis)) if b is not None else end - shift
        if t1 > t0:
            spans.append((t0, t1, set(a.pitchClasses), a))
    fits = {(s, t): _fit(notes, [sp[:3] for sp in spans], s, t)
            for s in (shift - 2, shift - 1, shift, shift + 1, shift + 2) for t in range(12)}
    (shift, transpose), fit = max(fits.items(), key=lambda kv: kv[1])
    if fit < MIN_FIT:
        return None
    rows = []
    for t0, t1, _, a in spans:
        t0, t1 = max(t0 + shift, 0.0), min(t1 + shift, end)
        if t1 <= t0:
            continue
        quality = QUALITY.get(a.commonName, "X")
        root = _NAMES[(a.root().pitchClass + transpose) % 12]
        rows.append((t0, t1, f"{root}:{quality}" if quality != "X" else "X"))
    k = numerals[0].key
    return f"{_NAMES[(k.tonic.pitchClass + transpose) % 12]} {k.mode}", rows


def perform(source: str, rn_path: Path, score_path: Path, seed: int):
    """(PrettyMIDI, HarmonyTruth) or None (analysis and score do not line up)."""
    import pretty_midi
    from music21 import converter

    score = converter.parse(str(score_path)).stripTies()
    got = analysis_truth(rn_path, score)
    if got is None:
        return None
    key, rows = got
    rng = np.random.default_rng(seed)
    qpm = float(rng.uniform(*TEMPO["chorale" if source == "chorales" else "madrigal"]))
    ensemble = str(rng.choice(list(ENSEMBLES)))
    end_q = min(float(score.highestTime), MAX_SECONDS * qpm / 60)
    sec = 60.0 / qpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    for i, part in enumerate(score.parts):
        inst = pretty_midi.Instrument(program=ENSEMBLES[ensemble], name=f"voice{i}")
        for n in part.flatten().notes:
            q, d = float(n.offset), float(n.quarterLength)
            if q >= end_q or d <= 0:
                continue
            t0 = q * sec + float(rng.normal(0, 0.008))
            t1 = max(min(q + d, end_q) * sec - 0.03, t0 + 0.05)
            for p in n.pitches:
                inst.notes.append(pretty_midi.Note(int(np.clip(rng.normal(78, 6), 40, 110)), int(p.midi), max(t0, 0.0), t1))
        pm.instruments.append(inst)
    chords = [(round(a * sec, 4), round(min(b, end_q) * sec, 4), lab) for a, b, lab in rows if a < end_q]
    return pm, HarmonyTruth(source, rn_path.stem, key, chords, round(end_q * sec, 3), ensemble, round(qpm, 2))


def _one(args) -> tuple[str, dict] | None:
    i, (source, rn, score) = args
    return render_cached(CACHE / f"{rn.stem}.wav", CACHE / f"{rn.stem}.json",
                         lambda: perform(source, rn, score, seed=1000 + i))


def build(workers: int = 2) -> list[tuple[Path, HarmonyTruth]]:
    """Render (once; cached) every analysed piece; returns (wav, truth) pairs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    jobs = list(enumerate(pairs()))
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(_one, jobs))
    out = []
    for (_, (source, rn, _)), got in zip(jobs, done):
        if got is None:
            print(f"skipped {source} {rn.name}: its analysis does not line up with the score", file=sys.stderr)
            continue
        d = got[1]
        out.append((Path(got[0]), HarmonyTruth(**{**d, "chords": [tuple(c) for c in d["chords"]]})))
    return out


if __name__ == "__main__":
    items = build()
    by = {}
    for _, t in items:
        by[t.source] = by.get(t.source, 0) + 1
    print(f"{len(items)} analysed pieces rendered into {CACHE}: {by}")
