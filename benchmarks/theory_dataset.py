"""The theory evaluation set: seeded, rendered once into a cache folder.

* ``clips``: N pieces of ~30 s (keys, modes, tempi, meters, instruments, drums or not drawn
  at random); a seed with ``seed % 5 == 0`` is held out (test), the rest is the dev split
  used to choose methods and parameters.
* ``forms``: longer pieces (60-110 s) with a form (A B A C ...) for structure boundaries.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import Truth, make_piece  # noqa: E402

CACHE = Path(os.environ.get("THEORY_CACHE", Path(__file__).resolve().parent / ".cache" / "theory"))
N_CLIPS = 480
N_FORMS = 40
FORMS = ["ABAC", "AABA", "ABAB", "ABCA", "ABAC"]


def split_of(seed: int) -> str:
    return "test" if seed % 5 == 0 else "dev"


def _clip(seed):
    return make_piece(seed, CACHE / "clips", seconds=30.0)


def _form(i):
    seed = 10_000 + i
    return make_piece(seed, CACHE / "forms", seconds=60.0 + (i % 5) * 10, form=FORMS[i % len(FORMS)])


def build(workers: int = 2) -> tuple[list[tuple[Path, Truth]], list[tuple[Path, Truth]]]:
    with ProcessPoolExecutor(workers) as ex:
        clips = list(ex.map(_clip, range(N_CLIPS)))
        forms = list(ex.map(_form, range(N_FORMS)))
    return clips, forms


if __name__ == "__main__":
    clips, forms = build()
    print(len(clips), "clips,", len(forms), "form pieces in", CACHE)
