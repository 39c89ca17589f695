"""Real forms rendered from scores: section truth from the composers' repeat signs.

* ``chorales``: Bach chorales whose score repeats its first part (the Stollen: A A B, bar form);
* ``dance tunes``: tunes from O'Neill's and Ryan's collections with repeated strains (A A B B),
  played twice through as a session band plays a tune (A A B B A A B B).

Sections come from the score: a section starts at the first bar, at a start-repeat sign and after
an end-repeat sign; repeats are expanded (music21 ``expandRepeats``) and each section is labelled
by the bar it starts on, so a repeated strain keeps its letter. The performance (tempo, ensemble)
is drawn from a seed and steady, so score time maps to seconds linearly.

A piece is left out when music21 cannot expand its repeats or a section would be shorter than
MIN_SECTION_S (first/second-ending brackets that expandRepeats splits into slivers).

    python benchmarks/forms.py       # renders the set into benchmarks/.cache/forms
"""
from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.scores import Spec, _parse, candidates  # noqa: E402
from benchmarks.synth import render_cached  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "forms"
N_PER_SOURCE = 24
ENSEMBLES = {"chorales": {"organ": 19, "strings": 48, "choir": 52, "brass": 61},
             "dance tunes": {"fiddle": 110, "flute": 73, "accordion": 21, "piano": 0}}
MIN_SECTION_S = 5.0
TEMPO = {"chorales": (60, 90), "dance tunes": (90, 130)}  # beats per minute (quarter / dotted quarter)


@dataclass
class FormTruth:
    source: str
    name: str
    sections: list[float] = field(default_factory=list)  # section starts, seconds (the first is 0)
    labels: list[str] = field(default_factory=list)
    duration: float = 0.0
    ensemble: str = ""

    def to_dict(self):
        return asdict(self)


def section_plan(score) -> list[tuple[float, float, int]] | None:
    """[(start q, end q, first bar number)] of the expanded score's sections, or None without
    repeat signs."""
    from music21 import bar, stream

    part = score.parts[0] if score.parts else score
    measures = list(part.getElementsByClass(stream.Measure))
    starts, ends = set(), set()
    for m in measures:
        for b in (m.leftBarline, m.rightBarline):
            if isinstance(b, bar.Repeat):
                (starts if b.direction == "start" else ends).add(m.number)
    if not ends:
        return None
    numbers = [m.number for m in measures]
    starts |= {numbers[0]} | {numbers[i + 1] for i, n in enumerate(numbers[:-1]) if n in ends}
    expanded = score.expandRepeats()
    epart = expanded.parts[0] if expanded.parts else expanded
    rows, prev = [], None
    for m in epart.getElementsByClass(stream.Measure):
        q = float(m.getOffsetInHierarchy(expanded))
        if m.number in starts and m.number != prev and (not rows or q > rows[-1][0]):
            rows.append([q, q, m.number])
        prev = m.number
        if rows:
            rows[-1][1] = q + float(m.duration.quarterLength)
    return [tuple(r) for r in rows] if len(rows) >= 3 else None


def perform(source: str, spec: Spec, seed: int):
    """(PrettyMIDI, FormTruth) or None (no usable repeat structure)."""
    import pretty_midi
    from music21 import stream

    score = _parse(spec)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    plan = section_plan(score)
    if plan is None:
        return None
    expanded = score.expandRepeats().stripTies()
    rng = np.random.default_rng(seed)
    ensemble = str(rng.choice(list(ENSEMBLES[source])))
    ts = expanded.recurse().getElementsByClass("TimeSignature").first()
    beat_q = float(ts.beatDuration.quarterLength) if ts is not None else 1.0
    sec = 60.0 / (float(rng.uniform(*TEMPO[source])) * beat_q)  # seconds per quarter
    length = plan[-1][1]
    times = 2 if source == "dance tunes" else 1
    pm = pretty_midi.PrettyMIDI()
    for i, part in enumerate(expanded.parts or [expanded]):
        inst = pretty_midi.Instrument(program=ENSEMBLES[source][ensemble], name=f"voice{i}")
        for n in part.flatten().notes:
            q, d = float(n.offset), float(n.quarterLength)
            if d <= 0 or q >= length:
                continue
            for k in range(times):
                t0 = max((q + k * length) * sec + float(rng.normal(0, 0.008)), 0.0)
                t1 = max((min(q + d, length) + k * length) * sec - 0.03, t0 + 0.05)
                for p in n.pitches:
                    inst.notes.append(pretty_midi.Note(int(np.clip(rng.normal(80, 6), 40, 110)), int(p.midi), t0, t1))
        pm.instruments.append(inst)
    letters: dict[int, str] = {}
    sections, labels = [], []
    for k in range(times):
        for q0, _, number in plan:
            sections.append(round((q0 + k * length) * sec, 3))
            labels.append(letters.setdefault(number, chr(ord("A") + len(letters))))
    bounds = sections + [round(times * length * sec, 3)]
    if min(np.diff(bounds)) < MIN_SECTION_S:
        return None
    name = spec.path + (f"#{spec.number}" if spec.number else "")
    return pm, FormTruth(source, name, sections, labels, round(times * length * sec, 3), ensemble)


def _specs() -> dict[str, list[Spec]]:
    c = candidates()
    rng = np.random.default_rng(7)
    dance = [s for s in c["folk"] if s.path.startswith(("oneills1850", "ryansMammoth"))]
    return {"chorales": list(rng.permutation(np.array(c["chorale"], dtype=object))),
            "dance tunes": list(rng.permutation(np.array(dance, dtype=object)))}


def _one(args):
    source, i, spec = args
    tag = f"{source.replace(' ', '-')}-{i:03d}"
    wav, meta = CACHE / f"{tag}.wav", CACHE / f"{tag}.json"

    def attempt():
        try:
            return perform(source, spec, seed=500 + i)
        except Exception:  # a score music21 cannot expand
            return None

    return render_cached(wav, meta, attempt)


def build(n: int = N_PER_SOURCE, workers: int = 2) -> list[tuple[Path, FormTruth]]:
    """Render (once; cached) up to ``n`` pieces with repeat structure per source."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for source, specs in _specs().items():
        got, i = [], 0
        with ProcessPoolExecutor(workers) as pool:
            while len(got) < n and i < len(specs):
                batch = [(source, j, specs[j]) for j in range(i, min(i + 4 * workers, len(specs)))]
                i += len(batch)
                got += [r for r in pool.map(_one, batch) if r is not None]
        out += [(Path(w), FormTruth(**d)) for w, d in got[:n]]
    return out


if __name__ == "__main__":
    items = build()
    print(f"{len(items)} pieces with repeats rendered into {CACHE}")
    for w, t in items[:4] + items[-4:]:
        print(t.source, t.name, t.labels, [round(s) for s in t.sections], t.duration)
