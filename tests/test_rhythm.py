"""Tempo, beats, downbeats and meter on music with known beats that the project did not compose:
scores from the music21 corpus performed with a chosen tempo curve (benchmarks/scores.py), a
12/8 blues shuffle written here, a real recording from Debian's Frets on Fire songs and a drum
groove from Hydrogen's demo songs."""
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21", reason="music21 (requirements-dev.txt) renders the test scores")
needs_synth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")


def _f(ref, est) -> float:
    import mir_eval

    return float(mir_eval.beat.f_measure(np.asarray(ref, float), np.asarray(est, float)))


def _analyse(pm):
    """Render a PrettyMIDI and run tempo and meter on it: (TempoResult, MeterResult)."""
    from benchmarks.synth import render
    from genre_model.audio import decode_audio
    from genre_model.theory.meter import estimate_meter
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        render(pm, f.name)
        sig = Signal(decode_audio(f.name, target_sr=SR)[0])
    t = estimate_tempo(sig)
    return t, estimate_meter(sig, t)


def _score(path, **kw):
    from benchmarks.scores import Spec, perform

    style = "folk" if path.endswith(".abc") else "chorale"
    return perform(Spec(path, None, style), 0, **kw)


def test_tempo_of_beats_is_not_quantised_to_whole_frames():
    """Beats of a steady 120-BPM pulse land 21 or 22 frames apart (43.07 frames/s): the tempo is
    read from them at 120, not at the 117.4 BPM of the median whole-frame interval; a beat list
    whose middle intervals differ by more than a frame still gets its median."""
    from genre_model.theory.tempo import beats_bpm

    fps = 22050 / 512
    frames = np.round(np.arange(40) * 0.5 * fps).astype(int)
    assert set(np.diff(frames)) == {21, 22}
    assert beats_bpm(frames, fps) == pytest.approx(120.0, abs=0.3)
    assert beats_bpm(np.array([0, 10, 40]), fps) == pytest.approx(60 * fps / 20)


def test_tempo_change_from_the_beats():
    """Beats speeding up from 90 to 114 BPM read "speeds up" with their start and end tempo; a
    steady pulse with 2 % timing jitter reads "steady"; too few beats say nothing."""
    from genre_model.theory.tempo import TempoResult, tempo_change

    ramp = np.cumsum(np.linspace(60 / 90, 60 / 114, 40))
    start, end, change = tempo_change(ramp)
    assert change == "speeds up" and 88 < start < 96 and 108 < end < 116
    assert "speeds up" in TempoResult(100.0, 0.5, list(ramp), [], "", start, end, change).change_text()
    assert tempo_change(ramp[::-1].max() - ramp[::-1])[2] == "slows down"
    jitter = np.arange(40) * 0.5 + np.random.default_rng(0).normal(0, 0.01, 40)
    assert tempo_change(jitter)[2] == "steady"
    assert tempo_change(np.arange(8) * 0.5) == (None, None, "")


@pytest.mark.parametrize("comb", [False, True])
def test_local_period_follows_a_tempo_ramp(comb):
    """A click track slowing from 120 to 80 BPM: the local period follows it within 3 %, and
    the beat tracker with it hits every click, on one lag (the readings' path) and on the comb
    (the reported beats' path)."""
    from genre_model.theory.tempo import local_acf, local_periods, track_beats

    fps = 22050 / 512
    n = int(40 * fps)
    bpm = np.linspace(120, 80, n)
    phase = np.cumsum(bpm / 60 / fps)
    clicks = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    onset = np.zeros(n)
    onset[clicks] = 1.0
    onset = np.convolve(onset, [0.3, 1.0, 0.5, 0.2], mode="same")
    acs, hop = local_acf(onset, fps)
    periods = local_periods(acs, hop, 60 * fps / 100, n, comb=comb)
    true = 60 * fps / bpm
    inner = slice(int(5 * fps), n - int(5 * fps))
    assert np.max(np.abs(periods[inner] / true[inner] - 1)) < 0.03
    beats = track_beats(onset, periods)
    assert _f(clicks / fps, beats / fps) > 0.95


def test_the_reported_beats_stay_on_a_steady_beat_under_a_cross_rhythm():
    """A steady 128-BPM beat whose kicks drop to a whisper for 25 s under a loud tresillo (3+3+2
    sixteenths): read at one lag the local period leaves the beat for the tresillo's spacing;
    read on the comb (the path the reported beats follow) it stays within 3 % of the beat, and
    the beats tracked along it hit the kicks (F 0.93 against 0.73 along the one lag)."""
    from genre_model.theory.tempo import local_acf, local_periods, track_beats

    fps, bpm, seconds = 22050 / 512, 128.0, 60
    n, beat = int(seconds * fps), 60 / bpm
    onset = np.zeros(n)
    kicks = np.arange(0, seconds, beat)
    for t in kicks:
        onset[int(round(t * fps))] += 0.15 if 20 <= t < 45 else 1.0
    for bar in np.arange(0, seconds, 2 * beat):
        for sixteenth in (0, 3, 6):
            t = bar + sixteenth * beat / 4
            if 20 <= t < 45:
                onset[int(round(t * fps))] += 1.0
    onset = np.convolve(onset, [0.3, 1.0, 0.5, 0.2], mode="same")
    acs, hop = local_acf(onset, fps)
    one_lag = local_periods(acs, hop, 60 * fps / bpm, n)
    on_comb = local_periods(acs, hop, 60 * fps / bpm, n, comb=True)
    middle = slice(int(28 * fps), int(38 * fps))
    assert np.max(np.abs(one_lag[middle] * bpm / (60 * fps) - 1)) > 0.1  # what the comb is for
    assert np.max(np.abs(on_comb * bpm / (60 * fps) - 1)) < 0.03
    # the tracker still takes a few tresillo onsets for beats (0.93 with the true period held)
    along_comb, along_one_lag = (_f(kicks, track_beats(onset, p) / fps) for p in (on_comb, one_lag))
    assert along_comb > 0.9 and along_comb > along_one_lag + 0.1


def test_salience_along_the_local_period_keeps_a_slowing_tactus():
    """Loud quarters and soft eighths, slowing from 72 to 48 BPM: in the mean autocorrelation the
    drift smears the quarter's longer lags, so the eighth reading looks far more salient than on a
    steady track; read along the local period (what the octave choice uses) it does not."""
    from genre_model.theory.tempo import _comb_salience, local_acf, local_comb_salience, local_periods

    fps = 22050 / 512

    def relative_salience(b0, b1):  # log salience of the quarter reading over the eighth's: (local, global)
        n = int(32 * fps)
        bpm = np.linspace(b0, b1, n)
        phase = np.cumsum(2 * bpm / 60 / fps)  # eighth notes
        ticks = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
        onset = np.zeros(n)
        onset[ticks] = np.where(np.arange(ticks.size) % 2 == 0, 1.0, 0.5)
        onset = np.convolve(onset, [0.3, 1.0, 0.5, 0.2], mode="same")
        acs, hop = local_acf(onset, fps)
        period = 60 * fps / ((b0 + b1) / 2)
        windows = local_periods(acs, hop, period, n)[np.minimum(np.arange(acs.shape[0]) * hop, n - 1)]
        local = np.log(local_comb_salience(acs, windows) / local_comb_salience(acs, windows / 2))
        glob = np.log(_comb_salience(acs.mean(0), np.array([period, period / 2]))).dot([1, -1])
        return local, glob

    steady_local, steady_global = relative_salience(60, 60)
    slowing_local, slowing_global = relative_salience(72, 48)
    assert steady_global - slowing_global > 1.0  # the mean autocorrelation is fooled by the ritardando
    assert steady_local - slowing_local < 0.5


@needs_synth
@pytest.mark.parametrize("curve", ["ritardando", "accelerando"])
def test_gradual_tempo_change_is_followed(curve):
    """A Bach chorale on piano with a plain drum part, slowing to 0.6x over its last 30 % or
    speeding up from 0.85x to 1.15x: the beats follow."""
    pm, truth = _score("bach/bwv66.6.mxl", tactus=80, curve=curve, ensemble="piano", drums=True, fermatas=False)
    t, _ = _analyse(pm)
    assert t.bpm is not None and abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)
    assert _f(truth.beats, t.beats) > 0.85
    # the accelerando is reported; the closing ritardando's last 5 beats (0.8x -> 0.6x) are not
    # followed (the local tempo is read in 8-s windows), so it may read steady, never faster
    allowed = ("speeds up",) if curve == "accelerando" else ("slows down", "steady")
    assert t.change in allowed, (t.change, t.start_bpm, t.end_bpm)


@needs_synth
def test_reported_tempo_is_that_of_the_reported_beats():
    """A German folk song (Essen collection) on a lone flute, speeding up from 0.85x to 1.15x of
    110 BPM: the beats keep up, and the tempo reported is theirs (the release before reported
    83.5 BPM, the chosen reading's, beside beats at 108)."""
    from benchmarks.scores import Spec, perform

    pm, truth = perform(Spec("essenFolksong/erk20.abc", 93, "folk"), 0, tactus=110, curve="accelerando",
                        ensemble="flute", drums=False)
    t, _ = _analyse(pm)
    of_beats = 60.0 / float(np.median(np.diff(t.beats)))
    assert t.bpm is not None and abs(t.bpm / of_beats - 1) < 0.03, (t.bpm, of_beats)
    assert abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)


def _blues_shuffle(tactus: float = 54.0, bars: int = 12):
    """A 12-bar slow blues in A, 12/8 (four dotted-quarter beats per bar, each in three swung
    eighths): kick on 1 and 3, snare on 2 and 4, ride on the 1st and 3rd eighth of each beat,
    a walking bass on the same, piano chords on the beat. Returns (PrettyMIDI, beats, downbeats)."""
    import pretty_midi

    beat = 60.0 / tactus
    pm = pretty_midi.PrettyMIDI(initial_tempo=tactus * 1.5)
    kit = pretty_midi.Instrument(0, is_drum=True)
    bass = pretty_midi.Instrument(33)
    keys = pretty_midi.Instrument(4)
    roots = [45, 50, 45, 45, 50, 50, 45, 45, 52, 50, 45, 52][:bars]  # A7 D7 A7 A7 D7 D7 A7 A7 E7 D7 A7 E7
    beats, downbeats = [], []
    for b, root in enumerate(roots):
        for k in range(4):
            t = (b * 4 + k) * beat
            beats.append(t)
            if k == 0:
                downbeats.append(t)
            for e, vel in ((0, 90), (2, 60)):
                kit.notes.append(pretty_midi.Note(vel, 51, t + e * beat / 3, t + e * beat / 3 + 0.1))
            kit.notes.append(pretty_midi.Note(100 if k in (0, 2) else 95, 36 if k in (0, 2) else 38, t, t + 0.1))
            walk = [0, 4, 7, 9][k]
            bass.notes.append(pretty_midi.Note(95, root - 12 + walk, t, t + beat * 0.6))
            bass.notes.append(pretty_midi.Note(70, root - 12 + walk + 2, t + 2 * beat / 3, t + beat * 0.95))
            for p in (root + 12, root + 16, root + 19, root + 22):
                keys.notes.append(pretty_midi.Note(70 if k else 85, p, t, t + beat * 0.5))
    pm.instruments += [kit, bass, keys]
    return pm, beats, downbeats


@needs_synth
@pytest.mark.xfail(strict=True, reason="known failure (issue 10): a slow 12/8 shuffle is read at its "
                   "eighth-note pulse (3x, 161 BPM); the octave logit's tempo preference (centred on "
                   "120 BPM) and ternary weights rule out a 54-BPM ternary tactus")
def test_12_8_shuffle():
    pm, beats, downbeats = _blues_shuffle()
    t, m = _analyse(pm)
    assert t.bpm is not None and abs(t.bpm / 54.0 - 1) < 0.04, t.bpm
    assert _f(beats, t.beats) > 0.9
    assert m.subdivision == "ternary" and m.time_signature in ("12/8", "6/8"), m
    assert m.time_signature == "12/8", m.scores


@pytest.fixture(scope="module")
def march():
    """A 2/4 reel from Ryan's Mammoth Collection on accordion over a kick-snare march beat:
    (truth, TempoResult, MeterResult)."""
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth not installed")
    pm, truth = _score("ryansMammoth/7thRegimentReel.abc", tactus=110, curve="steady", ensemble="accordion", drums=True)
    assert truth.meter == "2/4"
    return (truth, *_analyse(pm))


def test_2_4_march(march):
    """Tempo and beats are right, and the report names 2/4 (as its answer or as the runner-up)."""
    truth, t, m = march
    assert abs(t.bpm / 110 - 1) < 0.04 and _f(truth.beats, t.beats) > 0.9
    assert m.subdivision == "binary" and "2/4" in [m.time_signature, *m.alternatives], m


@pytest.mark.xfail(strict=True, reason="known failure (issue 10): the bar reads 4/4 (2/4 the runner-up), "
                   "its downbeats on every other bar line: kick and snare alternate as in 4/4, the harmony "
                   "moves every 4 beats, and the meter's prior per signature (fitted) puts 4/4 before 2/4")
def test_2_4_march_reads_2_4_with_its_downbeats(march):
    truth, t, m = march
    assert m.time_signature == "2/4", m.scores
    assert _f(truth.downbeats, m.downbeats) > 0.8


@needs_synth
def test_slow_organ_chorale_without_drums():
    """Bach's BWV 66.6 on organ, no drums, quarter = 66 (held fermatas off): the slow attacks
    still give the tactus or its double, and beats on the score's quarters."""
    pm, truth = _score("bach/bwv66.6.mxl", tactus=66, curve="steady", ensemble="organ", drums=False, fermatas=False)
    t, _ = _analyse(pm)
    assert t.bpm is not None and min(abs(t.bpm / (66 * k) - 1) for k in (1, 2)) < 0.04, t.bpm
    quarters = np.asarray(truth.beats)
    grid = quarters if abs(t.bpm / 66 - 1) < 0.04 else np.sort(np.r_[quarters, quarters[:-1] + np.diff(quarters) / 2])
    assert _f(grid, t.beats) > 0.6
    assert t.change == "steady", (t.start_bpm, t.end_bpm)


@needs_synth
def test_beats_follow_the_bass_not_the_passing_notes():
    """Bach's BWV 66.6 on woodwinds, no drums, quarter = 86: the bass moves on the quarters while
    the upper voices' passing eighths are as loud, so the beats are tracked with the onsets below
    150 Hz beside the spectral flux (Signal.beat_env). Measured when written: beat F 0.90; on
    the spectral flux alone the beats slid between the quarters (0.47)."""
    pm, truth = _score("bach/bwv66.6.mxl", tactus=86, curve="steady", ensemble="woodwinds", drums=False, fermatas=False)
    t, _ = _analyse(pm)
    assert t.bpm is not None and abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)
    assert _f(truth.beats, t.beats) > 0.8


@needs_synth
def test_lone_tin_whistle_gets_its_tempo():
    """A folk tune on a lone tin whistle (Essen, boehme10 #261, 3/4 at 115 BPM, no drums): its
    near-sine notes raise too few mel bands for the median tempo envelope, which reads all zero;
    the period is then read on the onset envelope, not made up (it read 40 BPM x 3 = 120)."""
    from benchmarks.scores import Spec, perform
    from benchmarks.synth import render
    from genre_model.audio import decode_audio
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    pm, truth = perform(Spec("essenFolksong/boehme10.abc", 261, "folk"), 0, tactus=115, curve="steady",
                        ensemble="whistle", drums=False)
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        render(pm, f.name)
        sig = Signal(decode_audio(f.name, target_sr=SR)[0])
    assert sig.tempo_env.max() == 0  # what makes this tune the case
    t = estimate_tempo(sig)
    assert t.bpm is not None and abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)
    assert _f(truth.beats, t.beats) > 0.8


@needs_synth
def test_anacrusis_puts_downbeats_on_the_bar_lines():
    """BWV 66.6 opens with a one-beat pickup: beats start on it, downbeats on the bar lines. (With
    the kick on 1 and 3 and a chord on every beat, the bar phase landed on beat 3 while the
    broadband onsets, where the snare on 2 and 4 is loudest, were one of its accents.)"""
    pm, truth = _score("bach/bwv66.6.mxl", tactus=90, curve="steady", ensemble="strings", drums=True, fermatas=False)
    assert truth.anacrusis and truth.beats[0] < truth.downbeats[0]
    t, m = _analyse(pm)
    assert _f(truth.beats, t.beats) > 0.9
    assert m.time_signature == "4/4", m.scores
    assert _f(truth.downbeats, m.downbeats) > 0.8


def test_beat_times_are_those_of_the_sounds():
    """Noise-burst clicks at random tempi and sub-frame phases: the beats land on the clicks (the
    onset envelope peaks ~20 ms after a sound starts; before that was taken off every median
    offset was 18.5-21.7 ms late)."""
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    rng = np.random.default_rng(1)
    for _ in range(4):
        period = 60 / rng.uniform(70, 160)
        clicks = rng.uniform(0.3, 0.8) + np.arange(int(20 / period)) * period
        y = np.zeros(22 * SR, np.float32)
        for t in clicks:
            i = int(round(t * SR))
            y[i: i + 2000] += (rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)).astype(np.float32)
        beats = np.array(estimate_tempo(Signal(y)).beats)
        d = beats[:, None] - clicks[None, :]
        offset = np.median(d[np.arange(beats.size), np.abs(d).argmin(1)])
        assert abs(offset) < 0.008, offset


def test_real_recordings_against_their_charts():
    """Real metal / rock recordings (Debian's fretsonfire-songs-muldjord and -sectoid, stems
    mixed, the first 60 s of charted music) against the game charts' beat grids (95-190 BPM).
    Measured when written: every song at the chart's tempo or its half (4 of 8 at the half:
    their drums play half-time feels over 170-180 BPM charts), beat F at that level 0.08-1.0,
    mean 0.55; the mean is held above 0.45 (Essentia's full-song mean is 0.65). In the release
    that added tempo alternatives, all 8 excerpts read at the chart's tempo."""
    import mir_eval

    from benchmarks.real_music import chart_truth, fretsonfire_songs, mix_stems
    from genre_model.audio import resample
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.meter import estimate_meter
    from genre_model.theory.tempo import estimate_tempo

    songs = fretsonfire_songs()
    if not songs:
        pytest.skip("apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid (real recordings with charts)")
    fs, meters, halves = [], [], []
    for folder in songs:
        truth = chart_truth(folder)
        y, sr = mix_stems(folder)
        whole = Signal(resample(y.mean(1), sr, SR))
        tw = estimate_tempo(whole)
        meters.append(estimate_meter(whole, tw).time_signature)
        assert all(abs(a / tw.bpm - 1) > 0.04 and 40 <= a <= 208 for a in tw.alternatives), (tw.bpm, tw.alternatives)
        if abs(2 * tw.bpm / truth.tempo - 1) < 0.04:
            halves.append((folder.name, truth.tempo, tw.bpm, tw.alternatives))
        start = truth.beats[0]
        t = estimate_tempo(Signal(resample(y.mean(1)[int(start * sr): int((start + 60) * sr)], sr, SR)))
        ref = np.array([b - start for b in truth.beats if start <= b < start + 60])
        level = [k for k in (1, 2) if t.bpm and abs(t.bpm * k / truth.tempo - 1) < 0.04]
        assert level, (folder.name, t.bpm, truth.tempo)
        k = level[0]
        fs.append(max(float(mir_eval.beat.f_measure(ref[i::k], np.asarray(t.beats))) for i in range(k)))
    assert np.mean(fs) > 0.45, fs
    # Whole songs: kick, snare and guitars on every beat leave the accents even, but riffs repeat
    # by bars. Measured when written: 5 of 8 read 4/4 (the charts' meter), 3 not determinable;
    # before the repetition test all 8 were "not determinable".
    assert sum(m == "4/4" for m in meters) >= 4 and all(m in ("4/4", None) for m in meters), meters
    # A whole song read at half its chart's tempo offers the chart's tempo beside it (TempoResult.
    # alternatives, readings at least 20 % likely). Measured when written: 2 of the 8 whole songs
    # are read at the half (190 -> 95, 180 -> 90); the first offers 190.
    assert not halves or any(any(abs(a / tempo - 1) < 0.04 for a in alts) for _, tempo, _, alts in halves), halves


def test_real_recording_beats_stay_on_the_kick():
    """Escape from chaosland (Debian's fretsonfire-songs-sectoid), the whole song against its
    chart: a hi-hat on the off-beats outweighs the kick in the spectral flux, and tracked on the
    flux alone the beats sat half a beat off in 12 of the song's 20 windows of 10 s (beat F 0.47;
    librosa 0.46, Essentia 0.38). Tracked with the onsets below 150 Hz beside the flux
    (Signal.beat_env) they stay on the chart's beats: 0.99 when written."""
    import mir_eval

    from benchmarks.real_music import chart_truth, fretsonfire_songs, mix_stems
    from genre_model.audio import resample
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    songs = [f for f in fretsonfire_songs() if f.name == "Escape from chaosland"]
    if not songs:
        pytest.skip("apt-get install fretsonfire-songs-sectoid (a real recording with a chart)")
    truth = chart_truth(songs[0])
    y, sr = mix_stems(songs[0])
    t = estimate_tempo(Signal(resample(y.mean(1), sr, SR)))
    assert t.bpm is not None and abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)
    ref = mir_eval.beat.trim_beats(np.asarray(truth.beats))
    assert _f(ref, mir_eval.beat.trim_beats(np.asarray(t.beats))) > 0.9


def test_tempo_stays_in_the_metronome_range_on_a_real_orchestral_track():
    """Wesnoth's "elf-land" (Debian's wesnoth-music: harp and string arpeggios, no clear tactus):
    its tempo and the alternatives offered lie within 40-208 BPM, the metronome's range. Sought up
    to 240 BPM, it read 238."""
    from benchmarks.real_music import INSTALL_HINT, wesnoth_tracks
    from genre_model.audio import decode_audio
    from genre_model.theory.signal import SR, Signal
    from genre_model.theory.tempo import estimate_tempo

    tracks = [t for t in wesnoth_tracks() if t.endswith("/elf-land.ogg")]
    if not tracks:
        pytest.skip(INSTALL_HINT)
    t = estimate_tempo(Signal(decode_audio(tracks[0], target_sr=SR)[0]))
    assert t.bpm is not None and all(40 <= b <= 208 for b in [t.bpm, *t.alternatives]), (t.bpm, t.alternatives)


def test_lmms_project_truth(tmp_path):
    """The LMMS source's truth (benchmarks/real_music.lmms_truth): the project's tempo and bar read
    from its XML (.mmp, and .mmpz: Qt's qCompress, a 4-byte length then zlib), beats every quarter
    note from the song's start where the audio is audible, bars from the start."""
    import struct
    import zlib

    import soundfile as sf

    from benchmarks.real_music import lmms_head, lmms_truth

    xml = (b'<?xml version="1.0"?><lmms-project version="1.0" type="song"><head bpm="150" '
           b'timesig_numerator="3" timesig_denominator="4" mastervol="100"/><song/></lmms-project>')
    (tmp_path / "a.mmp").write_bytes(xml)
    (tmp_path / "a.mmpz").write_bytes(struct.pack(">I", len(xml)) + zlib.compress(xml))
    assert lmms_head(tmp_path / "a.mmp") == lmms_head(tmp_path / "a.mmpz") == (150.0, 3, 4)
    sr = 44100
    y = np.zeros(7 * sr, np.float32)
    rng = np.random.default_rng(0)
    y[sr: 5 * sr] = 0.3 * rng.standard_normal(4 * sr)  # audible from 1 s to 5 s
    sf.write(tmp_path / "a.flac", y, sr)
    t = lmms_truth(tmp_path / "a.mmpz", tmp_path / "a.flac")
    assert t.tempo == 150.0 and t.meter == "3/4" and t.duration == 7.0
    want = [round(0.4 * k, 4) for k in range(3, 13)]  # 1.2 .. 4.8 s: every 0.4 s inside 1..5 s
    assert np.allclose(t.beats, want, atol=0.03), t.beats
    assert np.allclose(t.downbeats, [1.2, 2.4, 3.6, 4.8], atol=0.03), t.downbeats


def test_hydrogen_song_truth(tmp_path):
    """The Hydrogen source's truth (benchmarks/real_music.hydrogen_head / hydrogen_truth): the
    song's tempo, and its bar from the patterns' length (48 ticks per quarter note); songs whose
    patterns differ in length, or whose timeline changes tempo, get none; beats every quarter note
    from the start where the audio is audible."""
    import soundfile as sf

    from benchmarks.real_music import hydrogen_head, hydrogen_truth

    def song(sizes, timeline=""):
        pats = "".join(f"<pattern><name>p{i}</name><size>{n}</size><denominator>4</denominator></pattern>"
                       for i, n in enumerate(sizes))
        path = tmp_path / f"s{len(list(tmp_path.iterdir()))}.h2song"
        path.write_text(f'<?xml version="1.0"?><song><bpm>100</bpm>{timeline}<patternList>{pats}</patternList>'
                        f'<virtualPatternList><pattern><name>p0</name></pattern></virtualPatternList></song>')
        return path

    assert hydrogen_head(song([144, 144])) == (100.0, 3, 4)
    assert hydrogen_head(song([192, 144])) is None
    tempo_change = "<isTimelineActivated>true</isTimelineActivated><timeLine><newBPM><BAR>2</BAR><BPM>90</BPM></newBPM></timeLine>"
    assert hydrogen_head(song([192], tempo_change)) is None
    sr = 44100
    y = np.zeros(5 * sr, np.float32)
    y[sr: 4 * sr] = 0.3 * np.random.default_rng(0).standard_normal(3 * sr)  # audible from 1 s to 4 s
    sf.write(tmp_path / "a.flac", y, sr)
    t = hydrogen_truth(song([192]), tmp_path / "a.flac")
    assert t.source == "hydrogen" and t.tempo == 100.0 and t.meter == "4/4" and t.drums
    assert np.allclose(t.beats, [1.2, 1.8, 2.4, 3.0, 3.6], atol=0.03), t.beats
    assert np.allclose(t.downbeats, [2.4], atol=0.03), t.downbeats


def test_snare_band_is_librosas_percussive_split():
    """Signal.snare_onset_env writes librosa's HPSS out (median filters on the snare band's rows
    and their neighbours, Wiener mask of power 2) for speed: it must equal the onset strength of
    the band of ``librosa.decompose.hpss``'s percussive part of the whole mel spectrogram."""
    import librosa

    from genre_model.theory.signal import HPSS_KERNEL, N_MELS, SNARE_HZ, SR, Signal

    rng = np.random.default_rng(3)
    t = np.arange(6 * SR) / SR
    y = 0.2 * np.sin(2 * np.pi * 1760 * t) * (t % 0.6 < 0.4) + 0.3 * rng.standard_normal(t.size) * (t % 0.5 < 0.05)
    sig = Signal(y.astype(np.float32))
    centres = librosa.mel_frequencies(N_MELS + 2, fmax=sig.sr / 2)[1:-1]
    band = (centres >= SNARE_HZ[0]) & (centres < SNARE_HZ[1])
    _, percussive = librosa.decompose.hpss(librosa.db_to_power(sig.mel_db), kernel_size=HPSS_KERNEL)
    want = librosa.onset.onset_strength(S=librosa.power_to_db(percussive[band] + 1e-10), sr=sig.sr, hop_length=sig.hop)
    assert np.allclose(sig.snare_onset_env, want, rtol=1e-6, atol=1e-6)


def _hydrogen_song(stem: str):
    """One of Hydrogen's demo songs rendered by its h2cli (Debian's hydrogen) with its humanize off,
    the same audio every time (benchmarks/real_music.render_hydrogen): (RhythmTruth, Signal);
    skips the test where hydrogen is not installed."""
    from benchmarks.real_music import hydrogen_head, hydrogen_songs, hydrogen_truth, render_hydrogen
    from genre_model.audio import decode_audio
    from genre_model.theory.signal import SR, Signal

    songs = [s for s in hydrogen_songs() if s.stem == stem]
    if not songs or hydrogen_head(songs[0]) is None:
        pytest.skip("apt-get install hydrogen (its demo songs, rendered by h2cli)")
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / f"{stem}.flac"
        render_hydrogen(songs[0], audio, humanize=False)
        return hydrogen_truth(songs[0], audio), Signal(decode_audio(audio, target_sr=SR)[0])


@pytest.mark.xfail(strict=True, reason="known failure (issue 10): on the quantized render the beats sit half a "
                   "beat off for a quarter of the song (beat F 0.72, with or without the snare band at 0.25; at 0.5 "
                   "it reads 0.97); humanized renders read 0.785-0.97")
def test_groove_with_the_kick_between_the_beats():
    """Hydrogen's demo groove GM_kit_demo2: the kick plays on 1 and mostly between the beats, a
    rimshot on 2 and 4. The beats should stay on the song's grid. Written as a passing test on one
    humanized render (0.72 -> 0.97 with the snare band); six humanized renders read 0.785-0.97,
    and the quantized one 0.72, which is what this test now renders."""
    from genre_model.theory.tempo import estimate_tempo

    truth, sig = _hydrogen_song("GM_kit_demo2")
    t = estimate_tempo(sig)
    assert t.bpm is not None and abs(t.bpm / truth.tempo - 1) < 0.04, (t.bpm, truth.tempo)
    assert _f(truth.beats, t.beats) > 0.9


def test_drum_groove_bar_starts_on_beat_one():
    """Hydrogen's demo groove GM_kit_Diddley (quantized render): the kick lands on beats 1 and 3
    alike and nothing plays chords, so the low onsets and the chord change left the bar on beat 3
    (downbeat F 0.00 on the benchmark's humanized render); the sound's change over two beats
    (meter.downbeat_accents) puts it on beat 1: 0.96 when written, on five humanized renders and
    on the quantized one."""
    from genre_model.theory.meter import estimate_meter
    from genre_model.theory.tempo import estimate_tempo

    truth, sig = _hydrogen_song("GM_kit_Diddley")
    t = estimate_tempo(sig)
    m = estimate_meter(sig, t)
    assert m.time_signature == truth.meter == "4/4"
    assert _f(truth.beats, t.beats) > 0.9
    assert _f(truth.downbeats, m.downbeats) > 0.8, (truth.downbeats[:3], m.downbeats[:3])
