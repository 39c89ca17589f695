"""Loudness, peaks and clipping measured on the channels (BS.1770 sums them), streamed while decoding."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import ffmpeg, requires_ffmpeg
from genre_model.theory.loudness import ChannelMeter, _ClipCounter, clipped_sample_count, measure_loudness
from genre_model.theory.report import analyze, decode_measured

SR = 48000


def sine(seconds=12.0, freq=997.0, amp=0.1, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds=12.0, seed=0, amp=0.1, sr=SR):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def test_stereo_sums_the_channels_as_bs1770_does():
    """A 997-Hz sine at -20 dBFS reads -23.0 LUFS in one channel and -20.0 in both (the standard's
    own check: 0 dBFS in one channel is -3.01 LUFS); the old mono downmix read L = R as one channel.
    Uncorrelated noise in L and R reads the same as identical noise of the same level (power sums),
    where a downmix loses 3 dB."""
    mono = measure_loudness(sine(), SR).integrated_lufs
    both = measure_loudness(np.stack([sine(), sine()], axis=1), SR).integrated_lufs
    assert mono == pytest.approx(-23.01, abs=0.1)
    assert both == pytest.approx(-20.0, abs=0.1)
    same = measure_loudness(np.stack([noise(), noise()], axis=1), SR).integrated_lufs
    apart = measure_loudness(np.stack([noise(), noise(seed=1)], axis=1), SR).integrated_lufs
    assert apart == pytest.approx(same, abs=0.1)
    downmix = measure_loudness((noise() + noise(seed=1)) / 2, SR).integrated_lufs
    assert apart - downmix == pytest.approx(3.01 + 3.01, abs=0.2)  # mean of two uncorrelated halves, one channel


def test_51_weights_and_lfe(tmp_path):
    """5.1 (L R C LFE Ls Rs): fronts weigh 1, surrounds 1.41, LFE nothing: the same sine in every
    channel reads 10 log10(3 + 2 x 1.41) = 7.65 dB above one channel."""
    one = measure_loudness(sine(), SR).integrated_lufs
    six = np.stack([sine()] * 6, axis=1)
    path = tmp_path / "six.wav"
    sf.write(path, six, SR, subtype="FLOAT")
    report = analyze(str(path))
    assert report.dynamics.integrated_lufs == pytest.approx(one + 7.65, abs=0.1)
    assert [c.name for c in report.dynamics.channels] == ["L", "R", "C", "LFE", "Ls", "Rs"]
    six[:, 3] = 0.5 * np.sin(2 * np.pi * 50 * np.arange(six.shape[0]) / SR)  # a loud LFE changes nothing
    assert measure_loudness(six, SR).integrated_lufs == pytest.approx(one + 7.65, abs=0.1)


def test_clipping_in_one_channel_is_found(tmp_path):
    """A hard-clipped left channel beside a quiet right one: the mono mix never reaches full
    scale, the channels do."""
    left = np.clip(4 * sine(amp=0.5), -1, 1)
    right = sine(amp=0.05, freq=330)
    path = tmp_path / "clipped-left.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    r = analyze(str(path))
    assert clipped_sample_count((left + right) / 2) == 0
    left_ch, right_ch = r.dynamics.channels
    assert left_ch.clipped_samples > 0.5 * left.size and right_ch.clipped_samples == 0
    assert r.quality.clipping and r.quality.clipped_samples == left_ch.clipped_samples
    assert any("clipping" in i and i.endswith("in L") for i in r.quality.issues)
    assert left_ch.sample_peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert right_ch.sample_peak_dbfs == pytest.approx(-26.0, abs=0.1)


def test_clip_runs_are_counted_across_blocks():
    rng = np.random.default_rng(3)
    y = np.clip(rng.standard_normal(50000) * 1.5, -1, 1).astype(np.float32)
    whole = clipped_sample_count(y)
    for block in (1, 2, 3, 7, 1000):
        c = _ClipCounter()
        for i in range(0, y.size, block):
            c.add(y[i:i + block])
        assert c.total() == whole
    assert whole > 0


def test_true_peak_finds_the_intersample_peak():
    """A sine at fs/4 sampled 45 degrees off its crests: samples at 0.707 x its peak, true peak
    ~3 dB above the sample peak."""
    n = np.arange(SR * 2)
    y = (0.5 * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.float32)
    ld = measure_loudness(y, SR)
    assert 20 * np.log10(ld.true_peak / ld.sample_peak) == pytest.approx(3.01, abs=0.15)


def test_streamed_while_decoding_matches_in_memory(tmp_path):
    y = np.stack([noise(30), 0.5 * noise(30, seed=2)], axis=1)
    path = tmp_path / "st.flac"
    sf.write(path, y, SR)
    _, _, streamed = decode_measured(str(path))
    in_memory = measure_loudness(sf.read(path, dtype="float32")[0], SR)
    assert streamed.integrated_lufs == pytest.approx(in_memory.integrated_lufs, abs=0.01)
    assert streamed.n_frames == y.shape[0] and len(streamed.channels) == 2


def test_a_meter_that_starts_over_forgets():
    m = ChannelMeter()
    m(np.ones((SR, 2), np.float32), SR)
    m.reset()
    m(np.stack([sine(2), sine(2)], axis=1), SR)
    assert m.result().clipped_samples == 0


def test_short_and_silent_inputs_say_why():
    short = measure_loudness(sine(0.3), SR)
    assert short.integrated_lufs is None and "400-ms" in short.reason
    silent = measure_loudness(np.zeros((SR * 2, 2), np.float32), SR)
    assert silent.integrated_lufs is None and "gate" in silent.reason


@requires_ffmpeg
def test_ffmpeg_only_formats_keep_their_channels(tmp_path):
    """m4a goes through the ffmpeg program; its pipe carries the channels when they are measured."""
    six = np.stack([sine(8, amp=0.1 * (k + 1) / 6) for k in range(6)], axis=1)
    wav, m4a = tmp_path / "six.wav", tmp_path / "six.m4a"
    sf.write(wav, six, SR)
    ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "384k", str(m4a))
    y, sr, ld = decode_measured(str(m4a))
    assert len(ld.channels) == 6 and y.ndim == 1 and sr == 44100
    assert ld.integrated_lufs == pytest.approx(measure_loudness(six, SR).integrated_lufs, abs=0.3)


@requires_ffmpeg
def test_agrees_with_ffmpeg_ebur128(tmp_path):
    """Within 0.1 LU of ffmpeg's ebur128 filter (which prints 0.1-LU steps) on stereo and 5.1."""
    from benchmarks.bench_loudness import ffmpeg_loudness

    rng = np.random.default_rng(5)
    env = np.repeat(rng.uniform(0.05, 0.5, 20), SR)  # 20 s of 1-s level steps: gating matters
    cases = {"stereo": np.stack([noise(20) * env, noise(20, seed=9) * env[::-1]], axis=1),
             "surround": np.stack([noise(20, seed=k) * env for k in range(6)], axis=1)}
    for name, y in cases.items():
        path = tmp_path / f"{name}.wav"
        sf.write(path, y, SR, subtype="FLOAT")
        ours = analyze(str(path)).dynamics.integrated_lufs
        assert ours == pytest.approx(ffmpeg_loudness(str(path))[0], abs=0.1), name


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_real_recordings_agree_with_ffmpeg():
    """Five real stereo recordings (Debian's wesnoth-music), whole tracks, within 0.1 LU."""
    from benchmarks.bench_loudness import ffmpeg_loudness
    from benchmarks.real_music import INSTALL_HINT, wesnoth_tracks

    tracks = wesnoth_tracks()[::8][:5]
    if len(tracks) < 5:
        pytest.skip(f"real recordings not installed: {INSTALL_HINT}")
    for path in tracks:
        _, _, ld = decode_measured(path)
        assert len(ld.channels) == 2
        assert ld.integrated_lufs == pytest.approx(ffmpeg_loudness(path)[0], abs=0.1), path
