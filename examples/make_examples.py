"""Render the app's example clips (made by this project: MIDI written by benchmarks/synth.py,
played by FluidSynth with the FluidR3 GM soundfont, MIT licence). The clips are CC0.

    python examples/make_examples.py
"""
import sys
import tempfile
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import make_piece  # noqa: E402

CLIPS = {"waltz-3-4": dict(seed=31, meter="3/4", drums=False), "groove-4-4": dict(seed=42, meter="4/4", drums=True),
         "ballad-6-8": dict(seed=53, meter="6/8", drums=True)}

if __name__ == "__main__":
    out = Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in CLIPS.items():
            wav, truth = make_piece(kw.pop("seed"), tmp, seconds=20.0, **kw)
            y, sr = sf.read(wav)
            sf.write(out / f"{name}.ogg", y, sr, format="OGG", subtype="VORBIS")
            print(name, truth.key, f"{truth.tempo:.0f} BPM", truth.meter)
