"""Shared fixtures: tiny random models and synthesised audio (no network, no downloads)."""
from __future__ import annotations

import os
import shutil
import subprocess

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import tempfile

os.environ["GENRE_MODEL_CACHE"] = tempfile.mkdtemp(prefix="genre-cache-")  # exported engines of test models

import numpy as np
import pytest
import soundfile as sf

SR = 16000


def tone(freq: float = 440.0, seconds: float = 3.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(y: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / sr)[spec.argmax()])


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


requires_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random tiny WhisperForAudioClassification (d_model 64, 2 layers) saved to a folder."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from genre_model.model import save_model, tiny_config

    torch.manual_seed(0)
    model = WhisperForAudioClassification(tiny_config()).eval()
    with torch.no_grad():  # peaked probabilities so label comparisons mean something
        model.classifier.weight.mul_(50)
    return str(save_model(model, WhisperFeatureExtractor(feature_size=80), tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="session")
def wav_440(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audio") / "a440.wav"
    sf.write(path, tone(440, 3.0), SR)
    return str(path)
