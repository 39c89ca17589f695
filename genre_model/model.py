"""The Whisper-encoder genre classifier: build, convert, freeze, load, save.

The model is transformers' ``WhisperForAudioClassification`` (Whisper encoder, optional learned
weighted sum of its layers, mean-pooled projection, linear head), saved in transformers-native
format (``config.json`` with ``id2label``, ``model.safetensors``, ``preprocessor_config.json``)
so that stock ``transformers.pipeline("audio-classification", model=...)`` runs it.

Sources of pretrained encoder weights
-------------------------------------
* a Hub id or folder of a transformers Whisper checkpoint (``openai/whisper-tiny``...):
  :func:`build_model`;
* an openai-whisper checkpoint, the way the original project started
  (``whisper.load_model(name_or_path).encoder``): :func:`build_from_openai_whisper`, which
  converts the encoder's weights key by key.

Fine-tuned models load only from safetensors (:func:`load_model`), never by unpickling.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterable
from urllib.parse import urlparse

import torch

GTZAN_GENRES = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)
HUB_TIMEOUT = 3.0  # s to wait for the Hub before giving up on a download


class ModelLoadError(RuntimeError):
    """A model could not be found, fetched or read. The message says which and what to do."""


def _label_maps(labels: Iterable[str]) -> tuple[dict[int, str], dict[str, int]]:
    labels = list(labels)
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"labels must be unique and non-empty, got {labels}")
    return {i: l for i, l in enumerate(labels)}, {l: i for i, l in enumerate(labels)}


def _is_local(name_or_path: str | os.PathLike) -> bool:
    return Path(name_or_path).expanduser().exists()


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """True when the Hub's host answers a TCP connection within ``timeout`` seconds."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve(name_or_path: str | os.PathLike, what: str) -> tuple[str, bool]:
    """Return ``(name_or_path, local_files_only)`` or fail fast when the Hub is out of reach.

    A Hub id already in the local cache loads without the network; one that is not, with the
    Hub unreachable, raises :class:`ModelLoadError` within :data:`HUB_TIMEOUT` seconds instead of
    letting the HTTP client retry for the better part of a minute.
    """
    name = os.fspath(name_or_path)
    if _is_local(name):
        return str(Path(name).expanduser()), True
    from huggingface_hub import try_to_load_from_cache

    if hub_reachable():
        return name, False
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name, True  # cached earlier: load it without the network
    raise ModelLoadError(
        f"could not fetch the {what} '{name}': the Hugging Face Hub is unreachable (offline?) "
        f"and it is not in the local cache. Download it where there is a network "
        f"(`hf download {name} --local-dir DIR`) and pass the folder instead "
        f"(--model DIR, or GENRE_MODEL=DIR for the app)."
    )


def build_model(
    base: str | os.PathLike = "openai/whisper-tiny",
    labels: Iterable[str] = GTZAN_GENRES,
    *,
    use_weighted_layer_sum: bool = False,
    classifier_proj_size: int = 256,
    dropout: float = 0.0,
):
    """A new classifier whose encoder starts from a transformers Whisper checkpoint.

    Parameters
    ----------
    base : Hub id or folder of any Whisper checkpoint (seq2seq or audio classification)
    labels : class names, in index order
    use_weighted_layer_sum : learn softmax weights over all encoder hidden states
    classifier_proj_size : width of the projection before the linear head

    Returns
    -------
    (WhisperForAudioClassification, WhisperFeatureExtractor); the head is freshly initialised.
    """
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    id2label, label2id = _label_maps(labels)
    name, local_only = _resolve(base, "base Whisper checkpoint")
    try:
        config = WhisperConfig.from_pretrained(name, local_files_only=local_only)
        config.update(dict(
            num_labels=len(id2label), id2label=id2label, label2id=label2id,
            use_weighted_layer_sum=use_weighted_layer_sum,
            classifier_proj_size=classifier_proj_size, dropout=dropout,
        ))
        model = WhisperForAudioClassification.from_pretrained(
            name, config=config, local_files_only=local_only, use_safetensors=True,
            ignore_mismatched_sizes=True,
        )
        fe = _feature_extractor(name, local_only, config.num_mel_bins)
    except OSError as e:
        raise ModelLoadError(f"could not load the base Whisper checkpoint '{name}': {e}") from e
    return model, fe


def _feature_extractor(name: str, local_only: bool, n_mels: int):
    from transformers import WhisperFeatureExtractor

    try:
        return WhisperFeatureExtractor.from_pretrained(name, local_files_only=local_only)
    except OSError:  # a bare config folder: the standard extractor for its mel count
        return WhisperFeatureExtractor(feature_size=n_mels)


# openai-whisper AudioEncoder parameter names -> transformers WhisperEncoder names
_OPENAI_TO_HF = (
    ("positional_embedding", "embed_positions.weight"),
    ("blocks.", "layers."),
    (".attn.query.", ".self_attn.q_proj."),
    (".attn.key.", ".self_attn.k_proj."),
    (".attn.value.", ".self_attn.v_proj."),
    (".attn.out.", ".self_attn.out_proj."),
    (".attn_ln.", ".self_attn_layer_norm."),
    (".mlp_ln.", ".final_layer_norm."),
    (".mlp.0.", ".fc1."),
    (".mlp.2.", ".fc2."),
    ("ln_post.", "layer_norm."),
)


def convert_openai_encoder(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an openai-whisper ``AudioEncoder`` state dict to transformers' ``WhisperEncoder``."""
    out = {}
    for key, value in state_dict.items():
        for old, new in _OPENAI_TO_HF:
            key = key.replace(old, new)
        out[key] = value
    return out


def build_from_openai_whisper(
    name_or_path: str,
    labels: Iterable[str] = GTZAN_GENRES,
    *,
    use_weighted_layer_sum: bool = False,
    classifier_proj_size: int = 256,
    dropout: float = 0.0,
    download_root: str | None = None,
):
    """A new classifier whose encoder is ``whisper.load_model(name_or_path).encoder``.

    ``name_or_path`` is an openai-whisper model name (``tiny``, ``base``...; downloaded and
    SHA-256 checked by openai-whisper) or the path of a checkpoint in openai's format
    (``{"dims": ..., "model_state_dict": ...}``).

    Returns
    -------
    (WhisperForAudioClassification, WhisperFeatureExtractor)
    """
    import whisper
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    id2label, label2id = _label_maps(labels)
    if not os.path.isfile(name_or_path) and name_or_path in whisper.available_models() \
            and not hub_reachable():
        raise ModelLoadError(
            f"could not fetch the openai-whisper model '{name_or_path}': no network. "
            "Pass the path of a downloaded checkpoint (.pt) instead."
        )
    try:
        source = whisper.load_model(name_or_path, device="cpu", download_root=download_root)
    except (RuntimeError, OSError) as e:
        raise ModelLoadError(f"could not load the openai-whisper model '{name_or_path}': {e}") from e
    dims = source.dims
    config = WhisperConfig(
        num_mel_bins=dims.n_mels, d_model=dims.n_audio_state,
        encoder_layers=dims.n_audio_layer, encoder_attention_heads=dims.n_audio_head,
        encoder_ffn_dim=4 * dims.n_audio_state, max_source_positions=dims.n_audio_ctx,
        decoder_layers=dims.n_text_layer, decoder_attention_heads=dims.n_text_head,
        decoder_ffn_dim=4 * dims.n_text_state, max_target_positions=dims.n_text_ctx,
        vocab_size=dims.n_vocab, num_labels=len(id2label), id2label=id2label, label2id=label2id,
        use_weighted_layer_sum=use_weighted_layer_sum, classifier_proj_size=classifier_proj_size,
        dropout=dropout,
    )
    model = WhisperForAudioClassification(config)
    encoder_state = convert_openai_encoder(source.encoder.state_dict())
    missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("embed_positions")]:
        raise ModelLoadError(f"openai-whisper encoder did not convert: missing={missing} unexpected={unexpected}")
    return model, WhisperFeatureExtractor(feature_size=dims.n_mels)


def freeze_encoder(model) -> None:
    """Freeze every encoder parameter (the head, projector and layer weights stay trainable)."""
    for p in model.encoder.parameters():
        p.requires_grad_(False)


def unfreeze_top_blocks(model, k: int) -> None:
    """Make the top ``k`` encoder blocks and the final layer norm trainable (k=0: none,
    k >= n_layers: the whole encoder, convolutions and positions included)."""
    enc = model.encoder
    n = len(enc.layers)
    if k >= n:
        for p in enc.parameters():
            p.requires_grad_(True)
        enc.embed_positions.requires_grad_(False)  # sinusoidal, fixed in Whisper
        return
    for layer in list(enc.layers)[n - k:] if k > 0 else []:
        for p in layer.parameters():
            p.requires_grad_(True)
    if k > 0:
        for p in enc.layer_norm.parameters():
            p.requires_grad_(True)


def trainable_parameter_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def load_model(name_or_path: str | os.PathLike, *, device: str = "cpu", revision: str | None = None):
    """Load a fine-tuned classifier (Hub id or folder), safetensors only.

    Returns
    -------
    (WhisperForAudioClassification in eval mode, WhisperFeatureExtractor)

    Raises
    ------
    ModelLoadError
        naming the model and how to point at a local folder, within seconds when offline.
    """
    from transformers import WhisperForAudioClassification

    name, local_only = _resolve(name_or_path, "genre model")
    try:
        model = WhisperForAudioClassification.from_pretrained(
            name, revision=revision, local_files_only=local_only, use_safetensors=True,
        )
    except (OSError, ValueError) as e:
        raise ModelLoadError(
            f"could not load the genre model '{name}': {str(e).splitlines()[0]}. It must be a "
            "WhisperForAudioClassification saved with safetensors (a Hub id or a local folder)."
        ) from e
    fe = _feature_extractor(name, local_only, model.config.num_mel_bins)
    return model.to(device).eval(), fe


def save_model(model, feature_extractor, folder: str | os.PathLike) -> Path:
    """Save in transformers-native format: config.json, model.safetensors, preprocessor_config.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    feature_extractor.save_pretrained(folder)
    return folder


def tiny_config(labels: Iterable[str] = GTZAN_GENRES, **overrides):
    """A small random WhisperConfig for tests and timing (never a trained model).

    Defaults: d_model 64, 2 layers, 4 heads (0.2 M parameters). Pass
    ``d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536`` for
    whisper-tiny dimensions.
    """
    from transformers import WhisperConfig

    id2label, label2id = _label_maps(labels)
    kw = dict(
        num_mel_bins=80, d_model=64, encoder_layers=2, encoder_attention_heads=4,
        encoder_ffn_dim=256, decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=256,
        vocab_size=128, max_source_positions=1500, max_target_positions=64,
        num_labels=len(id2label), id2label=id2label, label2id=label2id, classifier_proj_size=32,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3,
    )
    kw.update(overrides)
    return WhisperConfig(**kw)
