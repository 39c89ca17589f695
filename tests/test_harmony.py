"""Key and chords that agree: spelling in the key, numerals relative to it, a key the chords do
not support is questioned, and a one-chord vamp still gets a key from its pitch profile."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from genre_model.theory.chords import LABELS, diatonic_triads, harmonic_rhythm, roman, spell_chord, transitions
from genre_model.theory.key import KeyResult, estimate_key, key_name, key_templates, pitch_class, spell
from genre_model.theory.signal import SR


def _key(label: str) -> KeyResult:
    tonic, mode = label.split()
    return KeyResult(label, tonic, mode, 1.0, 1.0)


def test_keys_are_named_as_musicians_name_them():
    assert [key_name(pc, "major") for pc in (1, 6, 8)] == ["Db major", "F# major", "Ab major"]
    assert [key_name(pc, "minor") for pc in (1, 3, 8)] == ["C# minor", "Eb minor", "G# minor"]
    assert pitch_class("Db") == pitch_class("C#") == 1 and pitch_class("B#") == 0 and pitch_class("Cb") == 11


def test_chords_are_spelled_in_the_key():
    cs = _key("C# minor")
    assert spell_chord("Ab:maj", cs) == "G#:maj" and roman("G#:maj", cs) == "V"  # the dominant is G#, not Ab
    assert spell_chord("E:maj", cs) == "E:maj" and spell_chord("F#:min", cs) == "F#:min"
    f = _key("F major")
    assert spell(10, "F") == "Bb" and spell_chord("A#:maj", f) == "Bb:maj" and roman("Bb:maj", f) == "IV"
    db = _key("Db major")
    assert [spell(pc, "Db") for pc in (1, 3, 5, 6, 8, 10, 0)] == ["Db", "Eb", "F", "Gb", "Ab", "Bb", "C"]
    assert spell_chord("N", db) == "N" and spell_chord("C:maj", None) == "C:maj"


def test_a_key_the_chords_do_not_support_is_questioned():
    templates, labels = key_templates()
    chroma = templates[labels.index("B minor")]
    fits = estimate_key(chroma, chords=[("B:min", 4.0), ("E:min", 2.0), ("F#:maj", 2.0)])
    assert fits.label == "B minor" and fits.chord_fit == 1.0 and not fits.note
    odd = estimate_key(chroma, chords=[("C:maj", 2.0), ("F:maj", 2.0), ("Eb:min", 2.0), ("B:min", 2.0)])
    assert odd.chord_fit < 0.5 and odd.note.startswith("questioned")
    assert odd.candidates[1][0] in odd.note  # the runner-up is named


def test_the_harmonic_rhythm_is_the_pieces_own():
    """A chord on every step (a chorale) is most likely under a low probability of staying, one
    chord a bar (4 steps: it stays 3 times in 4) under a high one: the chord HMM's stickiness is
    read from the piece."""
    rng = np.random.default_rng(0)

    def emissions(chords_per_step):  # the heard chord 4 nats above the rest, plus noise of 1 nat
        z = rng.normal(0, 1.0, (len(LABELS), len(chords_per_step)))
        z[chords_per_step, np.arange(len(chords_per_step))] += 4.0
        return z - np.logaddexp.reduce(z, axis=0)

    every_step = np.tile([0, 21, 5, 7], 16)  # C Am F G, a new chord on every step
    per_bar = np.repeat(every_step[:16], 4)
    assert harmonic_rhythm(emissions(every_step), transitions) <= 0.5
    assert harmonic_rhythm(emissions(per_bar), transitions) >= 0.7


def test_the_keys_triads_are_its_scales():
    on = lambda key: {LABELS[i] for i in np.flatnonzero(diatonic_triads(_key(key)))}  # noqa: E731
    assert on("C major") == {"C:maj", "D:min", "E:min", "F:maj", "G:maj", "A:min"}
    # minor: natural minor plus the leading tone (V is E major), as key.diatonic_share counts it
    assert on("A minor") == {"A:min", "C:maj", "D:min", "E:min", "E:maj", "F:maj", "F:min", "G:maj"}


def _partials(freqs, t, amp=0.2):
    return sum(amp / h * np.sin(2 * np.pi * f * h * t) for f in freqs for h in (1, 2, 3))


def test_a_one_chord_vamp_gets_a_key_and_a_drone_does_not():
    """A minor triad held for 16 s, with and without a melody of the A minor scale over it."""
    from genre_model.theory.report import analyze_signal

    t = np.arange(16 * SR) / SR
    pad = _partials([110.0, 130.81, 164.81], t, 0.1)
    assert analyze_signal(pad.astype(np.float32), SR)[0].key.label is None
    melody = np.zeros_like(t)
    notes = [440.0, 523.25, 659.25, 587.33, 493.88, 440.0, 392.0, 440.0]  # A C E D B A G A
    for i, f in enumerate(notes * 4):
        seg = (t >= i * 0.5) & (t < i * 0.5 + 0.45)
        melody[seg] = 0.3 * np.sin(2 * np.pi * f * t[seg])
    r = analyze_signal((pad + melody).astype(np.float32), SR)[0]
    assert r.key.label in ("A minor", "C major") and "one chord" in r.key.note, r.key
    assert "one chord" in r.summary()["Key"]


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_a_bach_chorale_against_its_human_analysis(tmp_path):
    """A real composition rendered from its score, scored against a musicologist's Roman-numeral
    analysis (music21 corpus, Riemenschneider 4 = BWV 86.6, E major): the key and most chords."""
    from types import SimpleNamespace

    from benchmarks import theory_eval as ev
    from benchmarks.analyses import pairs, perform
    from benchmarks.synth import render
    from genre_model.theory import analyze

    found = [p for p in pairs() if p[1].stem == "riemenschneider004"]
    if not found:
        pytest.skip("music21's corpus is not installed (requirements-dev.txt)")
    pm, truth = perform(*found[0], seed=4)
    render(pm, tmp_path / "chorale.wav")
    r = analyze(str(tmp_path / "chorale.wav"))
    assert truth.key == "E major" and r.key.label == "E major"
    wcsr, _ = ev.chord_majmin([(s.start, s.end, s.label) for s in r.chords.segments], SimpleNamespace(chords=truth.chords))
    assert wcsr >= 0.7, wcsr
