"""The Whisper front end: agreement with WhisperFeatureExtractor and openai-whisper, windows."""
import numpy as np
import pytest
import torch
import whisper
from transformers import WhisperFeatureExtractor

from genre_model.features import N_FRAMES, N_SAMPLES, Window, log_mel, plan_windows, stack_windows
from tests.conftest import SR, tone

# Stated tolerance: our features equal WhisperFeatureExtractor's within 1e-4 (max abs, in
# normalised log-mel units where the range is about 2); measured 1.2e-7 on this machine.
FE_TOL = 1e-4


def _music(seconds, seed=0):
    rng = np.random.default_rng(seed)
    return (tone(220, seconds) + tone(331, seconds, amp=0.2) + 0.05 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("seconds", [30.0, 12.5])
def test_matches_transformers_feature_extractor(n_mels, seconds):
    y = _music(seconds)
    ours = log_mel(stack_windows(y, plan_windows(y.size), fill="zeros"), n_mels)  # the extractor zero-pads
    theirs = WhisperFeatureExtractor(feature_size=n_mels)(y, sampling_rate=SR, return_tensors="pt").input_features
    assert ours.shape == theirs.shape == (1, n_mels, N_FRAMES)
    assert (ours - theirs).abs().max().item() < FE_TOL


def test_batch_equals_openai_whisper_per_window():
    y = _music(75.0, seed=1)
    windows = plan_windows(y.size)
    batch = stack_windows(y, windows)
    ours = log_mel(batch)
    for i in range(len(windows)):
        ref = whisper.log_mel_spectrogram(torch.from_numpy(batch[i]))
        assert torch.allclose(ours[i], ref, atol=1e-5)


def test_plan_windows_three_minutes():
    windows = plan_windows(180 * SR)
    assert [(w.start, w.end) for w in windows] == [(30.0 * i, 30.0 * (i + 1)) for i in range(6)]


def test_plan_windows_short_and_tail():
    assert plan_windows(10 * SR) == [Window(0.0, 10.0)]
    # 75 s: windows at 0, 30 and a tail window aligned to the end (45-75)
    assert [(w.start, w.end) for w in plan_windows(75 * SR)] == [(0, 30), (30, 60), (45, 75)]
    # 65 s: a 5-s tail is already heard by the window before it
    assert len(plan_windows(65 * SR)) == 2
    # capped: evenly spread, both ends kept
    capped = plan_windows(600 * SR, max_windows=4)
    assert len(capped) == 4 and capped[0].start == 0 and capped[-1].end == 600


def test_short_clip_is_tiled_or_zero_padded():
    y = np.arange(1, 10 * SR + 1, dtype=np.float32)
    batch = stack_windows(y, plan_windows(y.size))  # default: tiled
    assert batch.shape == (1, N_SAMPLES)
    assert np.array_equal(batch[0, : 10 * SR], y) and np.array_equal(batch[0, 10 * SR: 20 * SR], y)
    padded = stack_windows(y, plan_windows(y.size), fill="zeros")
    assert padded[0, : 10 * SR].all() and not padded[0, 10 * SR:].any()
