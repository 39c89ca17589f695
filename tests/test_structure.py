"""Structure: a strain and its repeat (A | A) are told apart by structure features, where no change
in sound marks the line, and repeats take the same letter."""
import numpy as np

from genre_model.theory import structure


def _blocks(order: str, beats_per_block: int = 24, d: int = 20, seed: int = 0):
    """Beat-level features of blocks in ``order`` (each letter one random sequence of unit vectors,
    repeated with a little noise), 0.5 s per beat."""
    rng = np.random.default_rng(seed)
    seqs = {c: rng.standard_normal((d, beats_per_block)) for c in sorted(set(order))}
    X = np.hstack([seqs[c] + 0.1 * rng.standard_normal((d, beats_per_block)) for c in order])
    X /= np.linalg.norm(X, axis=0, keepdims=True)
    times = np.arange(X.shape[1]) * 0.5
    return X, times, X.shape[1] * 0.5


def test_repeats_are_found_and_labelled():
    X, times, duration = _blocks("AABB")
    r = structure.segment(X, times, duration)
    assert len(r.boundaries) == 3
    assert np.allclose(r.boundaries, [12, 24, 36], atol=1.5), r.boundaries
    assert r.form == "A A B B"


def test_the_foote_curve_alone_misses_the_repeat_line():
    """What the structure features add: between two copies of the same strain nothing changes
    for a checkerboard kernel, so the method before (Foote only) cannot see 12 s."""
    X, times, duration = _blocks("AABB")
    before = structure.segment(X, times, duration, structure.BEFORE)
    assert not any(abs(b - 12) <= 1.5 for b in before.boundaries), before.boundaries


def test_a_rondo_keeps_a_few_letters():
    X, times, duration = _blocks("ABACABA", seed=2)
    r = structure.segment(X, times, duration)
    assert r.form.replace(" ", "") == "ABACABA"


def test_many_kinds_of_section_are_merged_to_a_readable_few():
    X, times, duration = _blocks("ABCDEFGHIJ", seed=3)
    edges = [0] + [24 * k for k in range(1, 10)] + [X.shape[1]]
    every = structure.label_segments(X, times, edges, duration, max_letters=None)
    assert [s.label for s in every] == list("ABCDEFGHIJ")
    capped = structure.label_segments(X, times, edges, duration, max_letters=8)
    assert len(capped) == 10 and len({s.label for s in capped}) == 8
    assert [s.label for s in capped][:1] == ["A"]  # letters in order of first appearance
