"""Rendered music with exactly known ground truth (key, tempo, beats, meter, chords, sections).

Pieces are written as MIDI with pretty_midi (one chord per bar from common progressions,
meter-typical accompaniment, an optional General-MIDI drum kit, a melody from the scale) and
rendered by FluidSynth with the FluidR3 General-MIDI soundfont (Debian packages ``fluidsynth``
and ``fluid-soundfont-gm``). Everything is drawn from a seeded generator, so a seed is a piece.

Conventions: ``tempo`` and ``beats`` are the tactus (quarter note in 4/4 and 3/4, dotted quarter
in 6/8); chord labels are Harte strings (``C:maj``, ``A:min``); ``sections`` are the start times
of the form's parts (A B A C ...).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
# Common 4-chord progressions (root offset from the tonic in semitones, quality); about a
# third of them open on a chord other than the tonic, as real songs do.
MAJOR_PROGRESSIONS = [
    [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],   # I V vi IV
    [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")],   # I IV V I
    [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")],   # vi IV I V
    [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],   # I vi IV V
    [(2, "min"), (7, "maj"), (0, "maj"), (0, "maj")],   # ii V I I
    [(0, "maj"), (5, "maj"), (9, "min"), (7, "maj")],   # I IV vi V
    [(0, "maj"), (4, "min"), (5, "maj"), (7, "maj")],   # I iii IV V
    [(5, "maj"), (7, "maj"), (0, "maj"), (9, "min")],   # IV V I vi
]
MINOR_PROGRESSIONS = [
    [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],  # i VI III VII
    [(0, "min"), (5, "min"), (7, "min"), (0, "min")],   # i iv v i
    [(0, "min"), (10, "maj"), (8, "maj"), (7, "maj")],  # i VII VI V (Andalusian)
    [(0, "min"), (5, "min"), (10, "maj"), (3, "maj")],  # i iv VII III
    [(8, "maj"), (10, "maj"), (0, "min"), (0, "min")],  # VI VII i i
    [(0, "min"), (8, "maj"), (5, "min"), (7, "maj")],   # i VI iv V
    [(5, "min"), (7, "maj"), (0, "min"), (0, "min")],   # iv V i i
    [(0, "min"), (3, "maj"), (10, "maj"), (5, "min")],  # i III VII iv
]
# General-MIDI programs that sound like real accompaniment / lead instruments
COMP_PROGRAMS = [0, 1, 4, 5, 16, 19, 24, 25, 26, 48, 49, 88, 89]
LEAD_PROGRAMS = [0, 11, 24, 40, 41, 56, 65, 66, 71, 73, 80, 81]
BASS_PROGRAMS = [32, 33, 34, 35, 38, 42]
METERS = {"4/4": (4, 1.0), "3/4": (3, 1.0), "6/8": (2, 1.5)}  # beats per bar, beat length in quarters


@dataclass
class Truth:
    seed: int
    key: str  # "A minor"
    tonic: int
    mode: str
    tempo: float  # tactus BPM
    meter: str
    drums: bool
    duration: float
    beats: list[float] = field(default_factory=list)
    downbeats: list[float] = field(default_factory=list)
    chords: list[tuple[float, float, str]] = field(default_factory=list)
    sections: list[float] = field(default_factory=list)
    form: str = ""

    def to_dict(self):
        return asdict(self)


def compose(seed: int, *, seconds: float = 30.0, form: str | None = None, meter: str | None = None,
            drums: bool | None = None):
    """Write a piece. Returns ``(pretty_midi.PrettyMIDI, Truth)``."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    meter = meter or str(rng.choice(list(METERS), p=[0.45, 0.3, 0.25]))
    beats_per_bar, beat_q = METERS[meter]
    tempo = float(rng.uniform(60, 180)) if meter != "6/8" else float(rng.uniform(45, 110))
    quarter = 60.0 / tempo / beat_q  # seconds per quarter note
    beat = quarter * beat_q
    bar = beat * beats_per_bar
    tonic = int(rng.integers(12))
    mode = "major" if rng.random() < 0.5 else "minor"
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    progressions = MAJOR_PROGRESSIONS if mode == "major" else MINOR_PROGRESSIONS
    drums = bool(rng.random() < 0.5) if drums is None else drums
    n_bars = max(4, int(seconds // bar))
    form = form or "A"
    part_bars = int(np.ceil(n_bars / len(form)))

    # one progression per distinct part letter, all different
    letters = list(dict.fromkeys(form))
    picks = rng.choice(len(progressions), size=len(letters), replace=False)
    progs = {l: progressions[int(i)] for l, i in zip(letters, picks)}
    comp_prog = {l: int(rng.choice(COMP_PROGRAMS)) for l in progs}
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo * beat_q)
    insts = {}

    def inst(name, program, is_drum=False):
        if name not in insts:
            insts[name] = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
            pm.instruments.append(insts[name])
        return insts[name]

    def note(instrument, pitch, start, dur, vel):
        instrument.notes.append(pretty_midi.Note(int(np.clip(vel, 1, 127)), int(pitch), start, start + dur))

    lead = inst("lead", int(rng.choice(LEAD_PROGRAMS)))
    bass = inst("bass", int(rng.choice(BASS_PROGRAMS)))
    comp_style = rng.choice(["block", "arp"])
    truth = Truth(seed, f"{PITCH_NAMES[tonic]} {mode}", tonic, mode, tempo, meter, drums, 0.0, form=form)
    t0 = 0.0
    base = 48 + tonic  # C3..B3
    melody_pitch = base + 24
    for b in range(part_bars * len(form)):
        letter = form[b // part_bars]
        if b % part_bars == 0:
            truth.sections.append(round(t0, 4))
        offset, quality = progs[letter][b % 4]
        root = base + offset
        third = root + (4 if quality == "maj" else 3)
        triad = [root, third, root + 7]
        truth.chords.append((round(t0, 4), round(t0 + bar, 4), f"{PITCH_NAMES[(tonic + offset) % 12]}:{quality}"))
        truth.downbeats.append(round(t0, 4))
        comp = inst(f"comp{letter}", comp_prog[letter])
        for k in range(beats_per_bar):
            tb = t0 + k * beat
            truth.beats.append(round(tb, 4))
            accent = 100 if k == 0 else 78
            # bass: root on the downbeat, fifth/root elsewhere (meter-typical)
            if meter == "3/4":
                if k == 0:
                    note(bass, root - 12, tb, beat * 0.9, accent)
                note(comp, triad[0] + 12, tb, beat * 0.8, accent - 25) if k else None
                if k:
                    for p in triad[1:]:
                        note(comp, p + 12, tb, beat * 0.8, accent - 25)
            elif meter == "6/8":
                note(bass, root - 12 + (7 if k else 0), tb, quarter * 0.9, accent)
                for e in range(3):  # three eighths per dotted-quarter beat
                    p = triad[e] + 12 if comp_style == "arp" else triad[(e + k) % 3] + 12
                    note(comp, p, tb + e * quarter / 2, quarter / 2 * 0.9, (accent if e == 0 else 60) - 15)
            else:  # 4/4
                if k in (0, 2) or rng.random() < 0.3:
                    note(bass, root - 12 + (7 if k == 2 else 0), tb, beat * 0.9, accent)
                if comp_style == "block":
                    for p in triad:
                        note(comp, p + 12, tb, beat * 0.85, accent - 20)
                else:
                    for e in range(2):
                        note(comp, triad[(2 * k + e) % 3] + 12, tb + e * beat / 2, beat / 2 * 0.9, accent - 20 - 10 * e)
            # melody: a scale/chord tone per beat, sometimes split in two
            splits = 1 if rng.random() < 0.6 else (3 if meter == "6/8" else 2)
            for s in range(splits):
                if rng.random() < 0.15:
                    continue
                if k == 0 and s == 0:
                    target = triad[int(rng.integers(3))] + 24
                    melody_pitch = target + 12 * round((melody_pitch - target) / 12)
                else:
                    step = int(rng.choice([-2, -1, 1, 2]))
                    deg = (scale.index((melody_pitch - tonic) % 12) + step) % 7 if (melody_pitch - tonic) % 12 in scale else 0
                    cand = tonic + scale[deg] + 12 * ((melody_pitch - tonic) // 12)
                    melody_pitch = int(np.clip(cand, base + 17, base + 36))
                note(lead, melody_pitch, tb + s * beat / splits, beat / splits * 0.95, accent - 10)
            if drums:
                kit = inst("drums", 0, is_drum=True)
                if meter == "4/4":
                    if k in (0, 2):
                        note(kit, 36, tb, 0.1, accent + 10)
                    if k in (1, 3):
                        note(kit, 38, tb, 0.1, 95)
                    for e in range(2):
                        note(kit, 42, tb + e * beat / 2, 0.05, 70 if e == 0 else 55)
                elif meter == "3/4":
                    note(kit, 36 if k == 0 else 42, tb, 0.1, accent + 10 if k == 0 else 70)
                    if k:
                        note(kit, 38, tb, 0.1, 60)
                else:
                    note(kit, 36 if k == 0 else 38, tb, 0.1, 105 if k == 0 else 90)
                    for e in range(3):
                        note(kit, 42, tb + e * quarter / 2, 0.05, 72 if e == 0 else 52)
        t0 += bar
    truth.duration = round(t0, 4)
    return pm, truth


def render(pm, out_wav: str | Path, sr: int = 22050) -> None:
    """Render with FluidSynth (stereo wav at ``sr``)."""
    if shutil.which("fluidsynth") is None or not Path(SOUNDFONT).exists():
        raise RuntimeError("rendering needs `apt-get install fluidsynth fluid-soundfont-gm`")
    with tempfile.NamedTemporaryFile(suffix=".mid") as mid:
        pm.write(mid.name)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", str(out_wav), "-r", str(sr),
                        SOUNDFONT, mid.name], check=True, capture_output=True)


def render_cached(wav: Path, meta: Path, perform) -> tuple[str, dict] | None:
    """Render ``perform()``'s ``(PrettyMIDI, truth)`` into ``wav`` and its truth (``.to_dict()``)
    into ``meta`` as JSON, once; later calls read them back. None when ``perform()`` gives None."""
    if wav.exists() and meta.exists():
        return str(wav), json.loads(meta.read_text())
    got = perform()
    if got is None:
        return None
    pm, truth = got
    render(pm, wav)
    meta.write_text(json.dumps(truth.to_dict()))
    return str(wav), truth.to_dict()


def make_piece(seed: int, folder: str | Path, **kw) -> tuple[Path, Truth]:
    """Compose and render one piece into ``folder`` (cached by its parameters)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(json.dumps([seed, sorted(kw.items())]).encode()).hexdigest()[:10]
    wav, meta = folder / f"{seed}-{tag}.wav", folder / f"{seed}-{tag}.json"
    pm, truth = compose(seed, **kw)
    if not wav.exists():
        render(pm, wav)
        meta.write_text(json.dumps(truth.to_dict()))
    return wav, truth
