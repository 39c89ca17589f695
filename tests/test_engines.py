"""Inference engines: OpenVINO agrees with torch, is cached by the weights' hash and rebuilt when
they change; "auto" falls back to torch without OpenVINO."""
import numpy as np
import pytest
import torch

from genre_model import engines
from genre_model.features import N_SAMPLES, log_mel
from tests.conftest import tone

pytest.importorskip("openvino", reason="pip install openvino (runtime requirement)")


def _feats(n=2):
    rng = np.random.default_rng(0)
    y = np.stack([tone(110 * (i + 2), 30.0, amp=0.3) + 0.01 * rng.standard_normal(N_SAMPLES).astype(np.float32)
                  for i in range(n)])
    return log_mel(y)


@pytest.fixture()
def model(tiny_model_dir):
    from genre_model.model import load_model

    return load_model(tiny_model_dir)[0]


def test_openvino_fp32_matches_torch(model, tmp_path):
    feats = _feats()
    ref_logits, ref_pooled = engines.TorchEngine(model)(feats)
    ov = engines.OpenVINOEngine(model, "fp32", cache_dir=tmp_path)
    logits, pooled = ov(feats)
    assert np.abs(logits - ref_logits).max() < 1e-3 and np.abs(pooled - ref_pooled).max() < 1e-3
    assert ov(feats[:1])[0].shape == (1, model.config.num_labels)  # any batch size


def test_exported_form_is_cached_and_rebuilt_when_the_weights_change(model, tmp_path):
    first = engines.OpenVINOEngine(model, "fp32", cache_dir=tmp_path)
    assert (first.cache_folder / "model.xml").exists()
    again = engines.OpenVINOEngine(model, "fp32", cache_dir=tmp_path)
    assert again.cache_folder == first.cache_folder and len(list((tmp_path / "openvino").iterdir())) == 1
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    changed = engines.OpenVINOEngine(model, "fp32", cache_dir=tmp_path)
    assert changed.cache_folder != first.cache_folder
    feats = _feats(1)
    assert np.allclose(changed(feats)[0], engines.TorchEngine(model)(feats)[0], atol=1e-3)


def test_auto_engine(monkeypatch):
    assert engines.resolve_engine("auto", "cpu") == "openvino"
    monkeypatch.setattr(engines, "openvino_available", lambda: False)
    assert engines.resolve_engine("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="openvino package"):
        engines.resolve_engine("openvino", "cpu")
