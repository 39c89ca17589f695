"""The Whisper-encoder genre classifier: build, convert, freeze, load, save.

The model is transformers' ``WhisperForAudioClassification`` (Whisper encoder, optional learned
weighted sum of its layers, mean-pooled projection, linear head), saved in transformers-native
format (``config.json`` with ``id2label``, ``model.safetensors``, ``preprocessor_config.json``)
so that stock ``transformers.pipeline("audio-classification", model=...)`` runs it.

Sources of pretrained encoder weights (all through :func:`build_model`)
----------------------------------------------------------------------
* a Hub id or folder of a transformers Whisper checkpoint (``openai/whisper-tiny``...);
* a CTranslate2 / faster-whisper folder or Hub id (``model.bin`` + ``config.json``, e.g.
  ``Systran/faster-whisper-tiny`` or the folder faster-whisper users already have in their Hub
  cache): :func:`build_from_ctranslate2`;
* an openai-whisper checkpoint (``whisper.load_model(name_or_path).encoder``), the way the
  original project started: :func:`build_from_openai_whisper`.
The conversions live in :mod:`genre_model.checkpoints`.

Fine-tuned models load only from safetensors (:func:`load_model`), never by unpickling.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import torch

from .checkpoints import CheckpointError, EncoderDims, convert_ctranslate2_encoder, convert_openai_encoder, \
    is_ctranslate2_folder

GTZAN_GENRES = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)
HUB_TIMEOUT = 5.0  # s that huggingface_hub may take to answer before a download is given up


class ModelLoadError(RuntimeError):
    """A model could not be found, fetched or read. The message says which and what to do."""


def _label_maps(labels: Iterable[str]) -> tuple[dict[int, str], dict[str, int]]:
    labels = list(labels)
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"labels must be unique and non-empty, got {labels}")
    return {i: l for i, l in enumerate(labels)}, {l: i for i, l in enumerate(labels)}


def _is_local(name_or_path: str | os.PathLike) -> bool:
    return Path(name_or_path).expanduser().exists()


def looks_like_path(name: str) -> bool:
    """True when ``name`` can only be a filesystem path, not a Hub id (``namespace/name``)."""
    return (name.startswith((".", "/", "~")) or os.path.isabs(name) or name.endswith(("/", os.sep))
            or name.count("/") > 1 or (os.sep != "/" and os.sep in name))


def hub_answer(name: str, repo_type: str = "model", timeout: float = HUB_TIMEOUT) -> str:
    """Ask the Hub about ``name`` through huggingface_hub's own HTTP client (so ``HTTPS_PROXY``,
    ``HF_ENDPOINT`` and tokens apply) within ``timeout`` seconds. Returns "ok", "missing"
    (no such repository, or no access), or "unreachable" (offline, DNS, proxy or timeout)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE:
        return "unreachable"
    try:
        HfApi().repo_info(name, repo_type=repo_type, timeout=timeout)
        return "ok"
    except GatedRepoError:
        return "ok"  # exists; the download says what access is missing
    except RepositoryNotFoundError:
        return "missing"
    except Exception:  # ConnectError, timeouts, proxy errors, 5xx...
        return "unreachable"


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """True when the Hub answers huggingface_hub's client within ``timeout`` seconds."""
    return hub_answer("openai/whisper-tiny", timeout=timeout) != "unreachable"


def _resolve(name_or_path: str | os.PathLike, what: str) -> tuple[str, bool]:
    """Return ``(name_or_path, local_files_only)`` or fail fast with a message that says what to do.

    A folder that does not exist says so; a Hub id already in the local cache loads without the
    network; otherwise the Hub is asked once (huggingface_hub's client and timeout, proxies
    honoured) and an unknown id or an unreachable Hub raises :class:`ModelLoadError` within
    :data:`HUB_TIMEOUT` seconds instead of letting downloads retry for the better part of a minute.
    """
    name = os.fspath(name_or_path)
    if _is_local(name):
        return str(Path(name).expanduser()), True
    if looks_like_path(name):
        raise ModelLoadError(f"the {what} folder '{name}' does not exist")
    from huggingface_hub import try_to_load_from_cache

    answer = hub_answer(name)
    if answer == "ok":
        return name, False
    cached = any(isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", "model.bin"))
    if answer == "unreachable" and cached:
        return name, True  # cached earlier: load it without the network
    if answer == "missing":
        raise ModelLoadError(
            f"there is no {what} '{name}' on the Hugging Face Hub (or it is private and no token "
            f"gives access), and no local folder of that name")
    raise ModelLoadError(
        f"could not fetch the {what} '{name}': the Hugging Face Hub is unreachable (offline?) "
        f"and it is not in the local cache. Download it where there is a network "
        f"(`hf download {name} --local-dir DIR`) and pass the folder instead "
        f"(--model DIR, or GENRE_MODEL=DIR for the app)."
    )


def _is_openai_checkpoint(name: str) -> bool:
    import whisper

    return str(name).endswith(".pt") or str(name) in whisper.available_models()


def build_model(
    base: str | os.PathLike = "openai/whisper-tiny",
    labels: Iterable[str] = GTZAN_GENRES,
    *,
    use_weighted_layer_sum: bool = False,
    classifier_proj_size: int = 256,
    dropout: float = 0.0,
):
    """A new classifier whose encoder starts from pretrained Whisper weights.

    Parameters
    ----------
    base : Hub id or folder of any transformers Whisper checkpoint (seq2seq or audio
        classification), of a CTranslate2 / faster-whisper Whisper model, or an openai-whisper
        model name / ``.pt`` checkpoint
    labels : class names, in index order
    use_weighted_layer_sum : learn softmax weights over all encoder hidden states
    classifier_proj_size : width of the projection before the linear head

    Returns
    -------
    (WhisperForAudioClassification, WhisperFeatureExtractor); the head is freshly initialised.
    """
    from transformers import WhisperConfig, WhisperForAudioClassification

    kw = dict(use_weighted_layer_sum=use_weighted_layer_sum, classifier_proj_size=classifier_proj_size,
              dropout=dropout)
    if _is_openai_checkpoint(os.fspath(base)) and not _is_local(os.path.join(os.fspath(base), "config.json")):
        return build_from_openai_whisper(os.fspath(base), labels, **kw)
    id2label, label2id = _label_maps(labels)
    name, local_only = _resolve(base, "base Whisper checkpoint")
    folder = _ctranslate2_folder(name, local_only)
    if folder is not None:
        return build_from_ctranslate2(folder, labels, **kw)
    try:
        config = WhisperConfig.from_pretrained(name, local_files_only=local_only)
        config.update(dict(num_labels=len(id2label), id2label=id2label, label2id=label2id, **kw))
        model = WhisperForAudioClassification.from_pretrained(
            name, config=config, local_files_only=local_only, use_safetensors=True,
            ignore_mismatched_sizes=True, dtype=torch.float32,
        )
        fe = _feature_extractor(name, local_only, config.num_mel_bins)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"could not load the base Whisper checkpoint '{name}': {str(e).splitlines()[0]}") from e
    return model, fe


def _ctranslate2_folder(name: str, local_only: bool) -> str | None:
    """The local folder of a CTranslate2 Whisper model named by ``name`` (a folder, or a Hub repo
    whose config.json has no ``model_type`` and which holds a model.bin), else None."""
    if _is_local(name):
        return name if is_ctranslate2_folder(name) else None
    from huggingface_hub import hf_hub_download

    try:
        cfg = json.loads(Path(hf_hub_download(name, "config.json", local_files_only=local_only)).read_text())
        if "model_type" in cfg:
            return None
        path = hf_hub_download(name, "model.bin", local_files_only=local_only)
    except Exception:  # no config.json / model.bin: not a CTranslate2 repo (transformers will say why)
        return None
    folder = str(Path(path).parent)
    return folder if is_ctranslate2_folder(folder) else None


def _encoder_config(dims: EncoderDims, labels: Iterable[str], **kw):
    """A WhisperConfig for the classifier around an encoder of ``dims`` (the decoder fields are
    Whisper's defaults; WhisperForAudioClassification has no decoder)."""
    from transformers import WhisperConfig

    id2label, label2id = _label_maps(labels)
    return WhisperConfig(
        num_mel_bins=dims.n_mels, d_model=dims.d_model, encoder_layers=dims.n_layers,
        encoder_attention_heads=dims.n_heads, encoder_ffn_dim=dims.ffn_dim, max_source_positions=dims.n_ctx,
        decoder_layers=dims.n_layers, decoder_attention_heads=dims.n_heads, decoder_ffn_dim=dims.ffn_dim,
        num_labels=len(id2label), id2label=id2label, label2id=label2id, **kw)


def _with_encoder(config, encoder_state: dict[str, torch.Tensor], source: str):
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    model = WhisperForAudioClassification(config)
    missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("embed_positions")]:
        raise ModelLoadError(f"the encoder of {source} did not convert: missing={missing} unexpected={unexpected}")
    model.config.name_or_path = source
    return model, WhisperFeatureExtractor(feature_size=config.num_mel_bins)


def build_from_ctranslate2(
    folder: str | os.PathLike,
    labels: Iterable[str] = GTZAN_GENRES,
    *,
    use_weighted_layer_sum: bool = False,
    classifier_proj_size: int = 256,
    dropout: float = 0.0,
):
    """A new classifier whose encoder comes from a CTranslate2 (faster-whisper) Whisper folder
    (``model.bin`` + ``config.json``; float32, float16, bfloat16 or int8 weights, all loaded as
    float32).

    Returns
    -------
    (WhisperForAudioClassification, WhisperFeatureExtractor)
    """
    try:
        dims, state = convert_ctranslate2_encoder(folder)
    except (CheckpointError, OSError) as e:
        raise ModelLoadError(f"could not read the CTranslate2 Whisper model in '{folder}': {e}") from e
    config = _encoder_config(dims, labels, use_weighted_layer_sum=use_weighted_layer_sum,
                             classifier_proj_size=classifier_proj_size, dropout=dropout)
    return _with_encoder(config, state, os.fspath(folder))


def _feature_extractor(name: str, local_only: bool, n_mels: int):
    from transformers import WhisperFeatureExtractor

    try:
        return WhisperFeatureExtractor.from_pretrained(name, local_files_only=local_only)
    except OSError:  # a bare config folder: the standard extractor for its mel count
        return WhisperFeatureExtractor(feature_size=n_mels)


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
    d = source.dims
    dims = EncoderDims(n_mels=d.n_mels, d_model=d.n_audio_state, n_layers=d.n_audio_layer, n_heads=d.n_audio_head,
                       ffn_dim=4 * d.n_audio_state, n_ctx=d.n_audio_ctx)
    config = _encoder_config(dims, labels, use_weighted_layer_sum=use_weighted_layer_sum,
                             classifier_proj_size=classifier_proj_size, dropout=dropout)
    return _with_encoder(config, convert_openai_encoder(source.encoder.state_dict()), name_or_path)


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


def load_model(name_or_path: str | os.PathLike, *, device: str = "cpu", revision: str | None = None,
               dtype: torch.dtype = torch.float32):
    """Load a fine-tuned classifier (Hub id or folder), safetensors only.

    Weights are cast to ``dtype`` (float32 by default, whatever they were saved in: a float16
    checkpoint runs with float32 features; reduced precision is applied at inference, see
    :class:`genre_model.predict.GenreClassifier`).

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
            name, revision=revision, local_files_only=local_only, use_safetensors=True, dtype=dtype,
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
