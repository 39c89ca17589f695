"""Real compositions rendered from scores: the corpus bundled with ``music21`` (Bach chorales,
Monteverdi madrigals, string quartets and piano pieces, folk tunes from Ryan's Mammoth
Collection, O'Neill's, Aird's Airs and the Essen collection), rendered with FluidSynth.

The notes, bar lines, anacruses, fermatas and time signatures are the composers' (or the
collections' editors'); what this module chooses is only the performance: the instruments
(organ, strings, choir, piano, harpsichord, brass, woodwinds, fiddle, flute, accordion), the
tempo (a tactus BPM in a range typical of the style), a tempo curve (steady, a closing
ritardando, an accelerando, a slow rubato sway, and the score's fermatas held), a light timing
and velocity humanisation, and, for 40 % of the pieces, a plain kick / snare / hi-hat part.

Ground truth follows from the score and the tempo curve: the tactus is the time signature's beat
(quarter in 2/4, 3/4, 4/4; dotted quarter in 6/8, 9/8, 12/8); beats are every tactus position
inside a written bar (an anacrusis has beats but no downbeat); downbeats are the bar lines;
``tempo`` is 60 / the median inter-beat interval. Only pieces whose excerpt keeps one of the
meters 2/4, 3/4, 4/4, 6/8, 9/8, 12/8 are used (cut time, 3/8 and 6/4 have no agreed tactus).
Excerpts run from the start (keeping the anacrusis) to a bar line near ``SECONDS``.

    python benchmarks/scores.py     # renders the set into benchmarks/.cache/scores
"""
from __future__ import annotations

import hashlib
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import render_cached  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "scores"
SECONDS = 40.0
METERS = {"2/4", "3/4", "4/4", "6/8", "9/8", "12/8"}
DRUM_SHARE = 0.4
# General-MIDI programs per ensemble; a list gives one program per part (top voice first, the
# last one repeats for lower parts)
ENSEMBLES = {
    "organ": [19], "strings": [48], "choir": [52], "piano": [0], "harpsichord": [6], "brass": [61],
    "woodwinds": [73, 68, 71, 70], "string quartet": [40, 40, 41, 42], "solo strings": [40, 41, 42, 43],
}
FOLK_LEADS = {"fiddle": [110], "flute": [73], "accordion": [21], "whistle": [78], "piano": [0], "oboe": [68]}
# tactus BPM range per style and meter (folk dance tempi from session practice)
TEMPO = {"chorale": (55, 90), "madrigal": (60, 100), "classical": (60, 150), "folk": (70, 140)}


@dataclass
class RhythmTruth:
    """Rhythm ground truth of one rendered piece or charted recording (times in seconds)."""

    source: str
    name: str
    tempo: float  # tactus BPM: 60 / median inter-beat interval
    meter: str  # "4/4", "6/8" ...
    beats: list[float]
    downbeats: list[float]
    duration: float
    style: str = ""
    ensemble: str = ""
    drums: bool = False
    curve: str = "steady"  # steady | ritardando | accelerando | rubato (fermatas come on top)
    fermatas: int = 0
    anacrusis: bool = False
    notes: str = ""

    def to_dict(self):
        return asdict(self)


@dataclass
class Spec:
    path: str  # corpus path (relative to the music21 corpus)
    number: int | None  # tune number in an ABC collection
    style: str  # chorale | madrigal | classical | folk


def _abc_tunes(path: Path) -> list[tuple[int, str]]:
    """(X number, meter) of each tune of an ABC file, read from its headers."""
    out, x = [], None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("X:"):
            m = re.match(r"X:\s*(\d+)", line)
            x = int(m.group(1)) if m else None
        elif line.startswith("M:") and x is not None:
            out.append((x, line[2:].strip().replace("C|", "2/2").replace("C", "4/4")))
            x = None
    return out


def candidates() -> dict[str, list[Spec]]:
    """Every corpus piece that may be drawn, per style."""
    from music21 import corpus

    root = Path(corpus.__file__).parent
    rel = lambda p: str(p.relative_to(root))  # noqa: E731
    chorales = sorted(root.glob("bach/bwv*.mxl"))
    madrigals = sorted(root.glob("monteverdi/madrigal.*.mxl"))
    classical = sorted([*root.glob("beethoven/opus18no*/*.mxl"), *root.glob("beethoven/opus18no*.mxl"),
                        *root.glob("mozart/k*/*.mxl"), *root.glob("haydn/opus*/*.mxl"),
                        *root.glob("schumann_*/*.mxl"), *root.glob("joplin/*.mxl"), *root.glob("chopin/*"),
                        *root.glob("schubert/*"), *root.glob("beach/*"), *root.glob("cpebach/*"),
                        *root.glob("handel/*"), *root.glob("corelli/*"), *root.glob("weber/*")])
    folk = []
    for f in sorted([*root.glob("ryansMammoth/*.abc"), *root.glob("oneills1850/*.abc"),
                     *root.glob("airdsAirs/*.abc"), *root.glob("essenFolksong/*.abc")]):
        tunes = _abc_tunes(f)
        for x, m in tunes:
            if m in METERS:
                folk.append(Spec(rel(f), x if len(tunes) > 1 else None, "folk"))
    return {"chorale": [Spec(rel(p), None, "chorale") for p in chorales],
            "madrigal": [Spec(rel(p), None, "madrigal") for p in madrigals],
            "classical": [Spec(rel(p), None, "classical") for p in classical if p.suffix in (".mxl", ".xml", ".krn")],
            "folk": folk}


QUOTA = {"chorale": 0.3, "madrigal": 0.1, "classical": 0.2, "folk": 0.4}  # shares of the set


def select(seed: int = 0) -> dict[str, list[Spec]]:
    """Every candidate in a seeded order, per quota group: the styles, with folk tunes grouped by
    meter (``folk 6/8`` ...) so that rare meters (9/8, 12/8) get their share."""
    rng = np.random.default_rng(seed)
    out = {}
    for style, specs in candidates().items():
        if style != "folk":
            out[style] = [specs[i] for i in rng.permutation(len(specs))]
            continue
        by_meter: dict[str, list[Spec]] = {}
        for s in specs:
            tunes = dict(_abc_tunes(_corpus_root() / s.path))
            by_meter.setdefault(tunes.get(s.number) if s.number else next(iter(tunes.values())), []).append(s)
        for m, group in sorted(by_meter.items()):
            out[f"folk {m}"] = [group[i] for i in rng.permutation(len(group))]
    return out


def _corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def _parse(spec: Spec):
    from music21 import converter

    path = _corpus_root() / spec.path
    return converter.parse(str(path), number=spec.number) if spec.number else converter.parse(str(path))


def perform(spec: Spec, seed: int, *, tactus: float | None = None, curve: str | None = None,
            ensemble: str | None = None, drums: bool | None = None, fermatas: bool | None = None,
            seconds: float = SECONDS):
    """Read a score and perform it. Returns ``(pretty_midi.PrettyMIDI, RhythmTruth)``, or None
    when the piece does not keep a usable meter for a whole excerpt. The keywords fix what is
    otherwise drawn from ``seed``: tactus BPM at the start, tempo curve, ensemble (a key of
    ENSEMBLES / FOLK_LEADS), the drum part, whether fermatas are held."""
    import pretty_midi
    from music21 import expressions, stream

    rng = np.random.default_rng(seed)
    score = _parse(spec)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    score = score.stripTies()
    parts = list(score.parts) or [score]
    measures = list(parts[0].getElementsByClass(stream.Measure))
    if len(measures) < 4:
        return None
    ts = None
    bar_rows = []  # (offset, length, padding_left, signature, beat_q, n_beats)
    for m in measures:
        ts = m.timeSignature or ts
        if ts is None:
            return None
        sig = ts.ratioString
        if sig not in METERS:
            break
        bar_rows.append((float(m.offset), float(m.duration.quarterLength), float(m.paddingLeft or 0.0), sig,
                         float(ts.beatDuration.quarterLength), int(ts.beatCount)))
    if len(bar_rows) < 4:
        return None
    # the first bar is an anacrusis when it is shorter than its signature's bar
    o, length, pad, sig, bq, nb = bar_rows[0]
    if pad == 0 and length < bq * nb - 1e-6:
        bar_rows[0] = (o, length, bq * nb - length, sig, bq, nb)
    lo, hi = TEMPO[spec.style]
    bq0 = bar_rows[0][4]
    drawn = float(rng.uniform(lo, hi)) if bq0 == 1.0 else float(rng.uniform(lo * 0.7, hi * 0.85))
    tactus = tactus or drawn
    qpm0 = tactus * bq0
    total_q = min(bar_rows[-1][0] + bar_rows[-1][1], seconds * 1.3 * qpm0 / 60.0)
    bar_rows = [b for b in bar_rows if b[0] < total_q - 1e-6]
    total_q = bar_rows[-1][0] + bar_rows[-1][1]

    # fermatas (any part): their note spans are played 2.2x slower
    notes = []
    fermata_spans = []
    for pi, part in enumerate(parts):
        for el in part.flatten().notes:
            q, d = float(el.offset), float(el.quarterLength)
            if q >= total_q or d <= 0:
                continue
            pitches = [p.midi for p in getattr(el, "pitches", [])] or [el.pitch.midi]
            if any(isinstance(e, expressions.Fermata) for e in el.expressions):
                fermata_spans.append((q, min(q + d, total_q)))
            notes.append((pi, q, min(d, total_q - q), pitches))
    use_fermatas = bool(fermata_spans) and rng.random() < 0.8 if fermatas is None else fermatas and bool(fermata_spans)
    drawn_curve = str(rng.choice(["steady", "ritardando", "accelerando", "rubato"], p=[0.55, 0.2, 0.1, 0.15]))
    curve = curve or drawn_curve
    grid = np.arange(0, total_q + 1 / 48, 1 / 48)
    x = grid / total_q
    factor = np.ones_like(grid)
    if curve == "ritardando":
        factor = np.where(x > 0.7, 1 - 0.4 * (x - 0.7) / 0.3, 1.0)
    elif curve == "accelerando":
        factor = 0.85 + 0.3 * x
    elif curve == "rubato":
        factor = 1 + 0.07 * np.sin(2 * np.pi * x * float(rng.uniform(1.0, 2.5)) + float(rng.uniform(0, 6.3)))
    fermata_spans = sorted(set(fermata_spans))  # one hold per span, however many voices mark it
    if use_fermatas:
        held = np.zeros(grid.size, bool)
        for a, b in fermata_spans:
            held |= (grid >= a) & (grid < b)
        factor[held] /= 2.2
    sec = np.r_[0.0, np.cumsum(60.0 / (qpm0 * factor[:-1]) * np.diff(grid))]
    to_s = lambda q: float(np.interp(q, grid, sec))  # noqa: E731

    beats, downbeats = [], []
    for o, length, pad, sig, bq, nb in bar_rows:
        start = o - pad
        for k in range(nb):
            q = start + k * bq
            if o - 1e-6 <= q < o + length - 1e-6:
                beats.append(round(to_s(q), 4))
                if k == 0 and pad == 0:
                    downbeats.append(round(to_s(q), 4))
    if len(beats) < 8:
        return None

    programs = None
    if ensemble:
        programs = {**ENSEMBLES, **FOLK_LEADS}[ensemble]
    elif spec.style == "folk":
        ensemble = str(rng.choice(list(FOLK_LEADS)))
        programs = FOLK_LEADS[ensemble]
    elif spec.style == "classical" and len(parts) >= 3:
        ensemble = str(rng.choice(["string quartet", "strings", "solo strings", "woodwinds"]))
        programs = ENSEMBLES[ensemble]
    elif spec.style == "classical":
        ensemble = str(rng.choice(["piano", "harpsichord"]))
        programs = ENSEMBLES[ensemble]
    else:
        ensemble = str(rng.choice(["organ", "strings", "choir", "piano", "harpsichord", "brass", "woodwinds"]))
        programs = ENSEMBLES[ensemble]
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm0)
    insts = {}
    for pi, q, d, pitches in notes:
        if pi not in insts:
            insts[pi] = pretty_midi.Instrument(program=programs[min(pi, len(programs) - 1)], name=f"part{pi}")
            pm.instruments.append(insts[pi])
        t0 = max(to_s(q) + float(rng.normal(0, 0.008)), 0.0)
        t1 = max(to_s(q + d) - 0.02, t0 + 0.05)
        vel = int(np.clip(rng.normal(80, 8) - 6 * pi, 30, 120))
        for p in pitches:
            insts[pi].notes.append(pretty_midi.Note(vel, int(p), t0, t1))
    meter = bar_rows[0][3]
    drawn_drums = bool(rng.random() < DRUM_SHARE)
    drums = drawn_drums if drums is None else drums
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        pm.instruments.append(kit)
        for o, length, pad, sig, bq, nb in bar_rows:
            start = o - pad
            sub = 3 if bq == 1.5 else 2
            for k in range(nb):
                for e in range(sub):
                    q = start + k * bq + e * bq / sub
                    if not (o - 1e-6 <= q < o + length - 1e-6):
                        continue
                    t = to_s(q)
                    kit.notes.append(pretty_midi.Note(60 if e else 75, 42, t, t + 0.05))
                    if e == 0 and (k == 0 or (nb == 4 and k == 2)):
                        kit.notes.append(pretty_midi.Note(100, 36, t, t + 0.1))
                    elif e == 0 and (nb in (2, 4) and k % 2 == 1 or nb == 3 and k > 0):
                        kit.notes.append(pretty_midi.Note(85, 38, t, t + 0.1))
    ibi = np.diff(beats)
    truth = RhythmTruth("scores", f"{spec.path}" + (f"#{spec.number}" if spec.number else ""),
                        round(60.0 / float(np.median(ibi)), 3), meter, beats, downbeats, round(to_s(total_q), 3),
                        style=spec.style, ensemble=ensemble, drums=drums, curve=curve,
                        fermatas=len(fermata_spans) if use_fermatas else 0, anacrusis=bar_rows[0][2] > 0)
    return pm, truth


def _one(args) -> tuple[str, dict] | None:
    tag, spec = args
    seed = int(hashlib.sha1(tag.encode()).hexdigest()[:8], 16)

    def performed():
        try:
            return perform(spec, seed=seed)
        except Exception as e:  # a corpus file music21 cannot read: skip it, say so
            print(f"skip {spec.path}: {type(e).__name__}: {e}", file=sys.stderr)
            return None

    return render_cached(CACHE / f"{tag}.wav", CACHE / f"{tag}.json", performed)


def quotas(n: int) -> dict[str, int]:
    """How many pieces of each quota group a set of ``n`` holds (folk split evenly over meters)."""
    q = {k: int(round(n * v)) for k, v in QUOTA.items() if k != "folk"}
    folk = n - sum(q.values())
    meters = sorted(METERS)
    return q | {f"folk {m}": folk // len(meters) + (i < folk % len(meters)) for i, m in enumerate(meters)}


def build(n: int = 120, workers: int = 2) -> list[tuple[Path, RhythmTruth]]:
    """Render (once, cached) a seeded set of ``n`` pieces, filling each group's quota with the
    first usable pieces of its seeded order (a group short of candidates gives what it has)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    groups, out = select(), []
    with ProcessPoolExecutor(workers) as ex:
        for g, k in quotas(n).items():
            specs, got, tried = groups.get(g, []), [], 0
            while len(got) < k and tried < len(specs):
                batch = specs[tried: tried + max(2, k - len(got) + 2)]
                jobs = [(f"{g.replace(' ', '-').replace('/', '')}-{tried + j:04d}", s) for j, s in enumerate(batch)]
                tried += len(batch)
                got += [r for r in ex.map(_one, jobs) if r is not None]
            out += got[:k]
    return [(Path(w), RhythmTruth(**t)) for w, t in out]


if __name__ == "__main__":
    items = build()
    from collections import Counter

    print(len(items), "pieces in", CACHE)
    print(Counter(t.meter for _, t in items), Counter(t.style for _, t in items), Counter(t.curve for _, t in items),
          "drums", sum(t.drums for _, t in items), "anacrusis", sum(t.anacrusis for _, t in items),
          "fermatas", sum(t.fermatas > 0 for _, t in items))
