"""Model: transformers-native save/load, stock pipeline parity, openai-whisper conversion,
freezing helpers, safetensors-only loading and fast offline failure."""
import os
import time
from dataclasses import asdict

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor, WhisperForAudioClassification, WhisperForConditionalGeneration, pipeline

from genre_model.features import log_mel, plan_windows, stack_windows
from genre_model.model import (
    GTZAN_GENRES, ModelLoadError, build_from_openai_whisper, build_model, freeze_encoder, load_model,
    save_model, tiny_config, trainable_parameter_names, unfreeze_top_blocks,
)
from genre_model.predict import GenreClassifier
from tests.conftest import SR, tone

# Stated tolerance for converted-encoder parity: max abs difference of hidden states <= 1e-5.
CONVERT_TOL = 1e-5


def _clip(seconds=30.0):
    rng = np.random.default_rng(3)
    return (tone(196, seconds) + tone(294, seconds, amp=0.3) + 0.05 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def test_saved_folder_is_transformers_native(tiny_model_dir):
    files = set(os.listdir(tiny_model_dir))
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
    model, fe = load_model(tiny_model_dir)
    assert [model.config.id2label[i] for i in range(10)] == list(GTZAN_GENRES)


def test_our_loader_and_stock_pipeline_agree(tiny_model_dir):
    y = _clip()
    ours = GenreClassifier(tiny_model_dir, precision="fp32").predict(y, top_k=10, sr=SR)
    stock = pipeline("audio-classification", model=tiny_model_dir)(y, top_k=10)
    assert ours.top[0].label == stock[0]["label"]
    stock_scores = {d["label"]: d["score"] for d in stock}
    for label, p in ours.probabilities.items():
        assert abs(p - stock_scores[label]) < 1e-4


def test_openai_whisper_checkpoint_converts(tmp_path):
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(1)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=4, n_audio_layer=2,
                           n_vocab=128, n_text_ctx=16, n_text_state=64, n_text_head=4, n_text_layer=1)
    source = Whisper(dims).eval()
    ckpt = tmp_path / "tiny-openai.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": source.state_dict()}, ckpt)

    model, fe = build_from_openai_whisper(str(ckpt), labels=["a", "b", "c"])
    mel = log_mel(stack_windows(_clip(), plan_windows(30 * SR)))
    with torch.no_grad():
        ref = source.encoder(mel)
        got = model.eval().encoder(mel).last_hidden_state
    assert (ref - got).abs().max().item() <= CONVERT_TOL
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    # and it saves to a folder that the stock pipeline reads
    save_model(model, fe, tmp_path / "converted")
    assert len(pipeline("audio-classification", model=str(tmp_path / "converted"))(_clip(5.0))) == 3


def test_build_from_transformers_checkpoint_keeps_encoder(tmp_path):
    torch.manual_seed(2)
    base = WhisperForConditionalGeneration(tiny_config()).eval()
    base.save_pretrained(tmp_path / "base")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp_path / "base")
    model, fe = build_model(tmp_path / "base", labels=["x", "y"], use_weighted_layer_sum=True)
    ref = base.model.encoder.state_dict()
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert model.config.use_weighted_layer_sum and model.config.num_labels == 2
    assert model.layer_weights.shape == (model.config.encoder_layers + 1,)


def test_freeze_and_unfreeze_top_blocks():
    model = WhisperForAudioClassification(tiny_config(encoder_layers=3))
    freeze_encoder(model)
    names = trainable_parameter_names(model)
    assert names and not any(n.startswith("encoder.") for n in names)
    assert any(n.startswith("classifier.") for n in names) and any(n.startswith("projector.") for n in names)
    unfreeze_top_blocks(model, 1)
    enc = {n for n in trainable_parameter_names(model) if n.startswith("encoder.")}
    assert enc and all(n.startswith(("encoder.layers.2.", "encoder.layer_norm.")) for n in enc)
    unfreeze_top_blocks(model, 99)
    enc = {n for n in trainable_parameter_names(model) if n.startswith("encoder.")}
    assert "encoder.conv1.weight" in enc and "encoder.embed_positions.weight" not in enc


def test_offline_hub_id_fails_fast_with_advice():
    t = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        load_model("someone/not-a-cached-model")
    assert time.perf_counter() - t < 10
    msg = str(info.value)
    assert "someone/not-a-cached-model" in msg and "local" in msg and "GENRE_MODEL" in msg


def test_pickle_only_folder_is_refused(tmp_path):
    model = WhisperForAudioClassification(tiny_config())
    model.save_pretrained(tmp_path, safe_serialization=False)
    for f in os.listdir(tmp_path):
        if f.endswith(".safetensors"):
            os.remove(tmp_path / f)
    if not any(f.endswith(".bin") for f in os.listdir(tmp_path)):
        pytest.skip("this transformers version cannot write pickle weights")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(tmp_path)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        load_model(tmp_path)


def test_a_missing_local_folder_says_so():
    for name in ("./my_modle", "/no/such/model", "models/a/b"):
        with pytest.raises(ModelLoadError, match="does not exist"):
            load_model(name)


def test_the_hub_probe_goes_through_https_proxy(monkeypatch):
    """HTTPS_PROXY is honoured (huggingface_hub's own client, not a raw TCP probe): a local
    'proxy' that answers nothing receives the CONNECT, and the probe gives up within seconds."""
    import socket
    import threading

    import huggingface_hub
    from huggingface_hub import constants

    from genre_model import model as model_mod

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    seen = []

    def serve():
        conn, _ = srv.accept()
        seen.append(conn.recv(200))
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{srv.getsockname()[1]}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    huggingface_hub.close_session()  # the client reads the proxy settings when it is made
    try:
        t = time.perf_counter()
        assert model_mod.hub_answer("someone/some-model", timeout=3) == "unreachable"
        assert time.perf_counter() - t < 10
    finally:
        huggingface_hub.close_session()
        srv.close()
    assert seen and seen[0].startswith(b"CONNECT ")


def test_faster_whisper_style_folder_is_a_base(tmp_path):
    """A CTranslate2 folder is recognised by build_model (the real one is tested in
    test_real_weights.py); a folder that only looks like one is refused with its name."""
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00\x0c\x00WhisperSpec\x00\x03\x00\x00\x00")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="CTranslate2"):
        build_model(tmp_path)
