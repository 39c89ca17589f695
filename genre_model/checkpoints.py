"""Pretrained Whisper encoder weights from other projects' checkpoint formats.

transformers' ``WhisperEncoder`` is the one model this package runs; these helpers turn the
encoder weights that other Whisper projects ship into its state dict:

* openai-whisper's ``AudioEncoder`` (``whisper.load_model(name).encoder``):
  :func:`convert_openai_encoder` renames its keys;
* CTranslate2 / faster-whisper folders (``model.bin`` + ``config.json``, what
  ``Systran/faster-whisper-*`` and the faster-whisper Hub cache hold): :func:`read_ctranslate2`
  parses CTranslate2's binary layout without CTranslate2 itself and
  :func:`convert_ctranslate2_encoder` maps its ``encoder/...`` variables (fused QKV, float16,
  bfloat16 or int8 with per-row scales) to float32 tensors.

Nothing here unpickles anything: the CTranslate2 layout is a header, then named raw arrays.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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


# --------------------------------------------------------------------------- CTranslate2
CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, "bfloat16")  # types.h order
CT2_WHISPER_SPEC = "WhisperSpec"


class CheckpointError(ValueError):
    """A checkpoint is not in the format it claims, or lacks what the encoder needs."""


def is_ctranslate2_folder(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a CTranslate2 Whisper model (``model.bin`` naming WhisperSpec)."""
    path = Path(folder) / "model.bin"
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(64)
    if len(head) < 8:
        return False
    n = struct.unpack_from("<H", head, 4)[0]
    return head[6:6 + n - 1] == CT2_WHISPER_SPEC.encode()


def _decode(raw: bytes, dtype_id: int, shape: list[int]) -> np.ndarray:
    if dtype_id >= len(CT2_DTYPES):
        raise CheckpointError(f"unknown CTranslate2 data type id {dtype_id}")
    dt = CT2_DTYPES[dtype_id]
    if dt == "bfloat16":  # the top half of a float32
        a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        a = np.frombuffer(raw, dt)
    return a.reshape(shape) if shape else a.reshape(())


def read_ctranslate2(folder: str | os.PathLike, prefix: str = "encoder/") -> tuple[str, dict[str, np.ndarray]]:
    """Read the variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    Returns
    -------
    (spec name, {variable name: array in its stored dtype}); aliases are resolved.
    """
    path = Path(folder) / "model.bin"
    with open(path, "rb") as fh:
        buf = memoryview(fh.read())
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return value[0]

    def string() -> str:
        nonlocal pos
        n = take("H")
        s = bytes(buf[pos:pos + n - 1]).decode("utf-8")
        pos += n
        return s

    try:
        version = take("I")
        if version < 5:
            raise CheckpointError(f"CTranslate2 binary version {version} is too old (5 or newer is read)")
        spec = string()
        take("I")  # spec revision
        out: dict[str, np.ndarray] = {}
        for _ in range(take("I")):
            name = string()
            shape = [take("I") for _ in range(take("B"))]
            dtype_id = take("B")
            n_bytes = take("I")
            if name.startswith(prefix):
                out[name] = _decode(bytes(buf[pos:pos + n_bytes]), dtype_id, shape)
            pos += n_bytes
        for _ in range(take("I")):
            alias, target = string(), string()
            if alias.startswith(prefix) and target in out:
                out[alias] = out[target]
    except struct.error as e:
        raise CheckpointError(f"{path} is truncated or not a CTranslate2 model ({e})") from None
    return spec, out


def _weight(v: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A variable as float32, dequantising int8/int16 weights with their ``weight_scale``."""
    if name not in v:
        raise CheckpointError(f"the CTranslate2 model has no variable {name}")
    a = v[name]
    if a.dtype in (np.int8, np.int16):
        scale = v.get(name.removesuffix("weight") + "weight_scale")
        if scale is None:
            raise CheckpointError(f"{name} is quantised but has no weight_scale")
        scale = np.asarray(scale, np.float32)
        return a.astype(np.float32) / (scale.reshape(-1, *([1] * (a.ndim - 1))) if scale.ndim else scale)
    return a.astype(np.float32)


@dataclass(frozen=True)
class EncoderDims:
    """Dimensions of a Whisper encoder read off its weights."""

    n_mels: int
    d_model: int
    n_layers: int
    n_heads: int
    ffn_dim: int
    n_ctx: int


def convert_ctranslate2_encoder(folder: str | os.PathLike) -> tuple[EncoderDims, dict[str, torch.Tensor]]:
    """A CTranslate2 Whisper folder's encoder as (dims, transformers ``WhisperEncoder`` state dict
    of float32 tensors)."""
    spec, v = read_ctranslate2(folder)
    if spec != CT2_WHISPER_SPEC:
        raise CheckpointError(f"{folder} holds a CTranslate2 {spec}, not a Whisper model")
    layers = sorted({int(m.group(1)) for k in v if (m := re.match(r"encoder/layer_(\d+)/", k))})
    if not layers:
        raise CheckpointError(f"{folder} has no encoder layers")
    conv1 = _weight(v, "encoder/conv1/weight")
    pos = _weight(v, "encoder/position_encodings/encodings")
    dims = EncoderDims(n_mels=conv1.shape[1], d_model=conv1.shape[0], n_layers=len(layers),
                       n_heads=int(v["encoder/num_heads"]) if "encoder/num_heads" in v else max(conv1.shape[0] // 64, 1),
                       ffn_dim=_weight(v, "encoder/layer_0/ffn/linear_0/weight").shape[0], n_ctx=pos.shape[0])
    sd = {"conv1.weight": conv1, "conv1.bias": _weight(v, "encoder/conv1/bias"),
          "conv2.weight": _weight(v, "encoder/conv2/weight"), "conv2.bias": _weight(v, "encoder/conv2/bias"),
          "embed_positions.weight": pos,
          "layer_norm.weight": _weight(v, "encoder/layer_norm/gamma"),
          "layer_norm.bias": _weight(v, "encoder/layer_norm/beta")}
    d = dims.d_model
    for i in layers:
        src, dst = f"encoder/layer_{i}/", f"layers.{i}."
        qkv_w = _weight(v, src + "self_attention/linear_0/weight")
        qkv_b = _weight(v, src + "self_attention/linear_0/bias")
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            sd[dst + f"self_attn.{name}.weight"] = qkv_w[j * d:(j + 1) * d]
            if name != "k_proj":  # Whisper's key projection has no bias (CTranslate2 stores zeros)
                sd[dst + f"self_attn.{name}.bias"] = qkv_b[j * d:(j + 1) * d]
        pairs = {"self_attn.out_proj": "self_attention/linear_1", "fc1": "ffn/linear_0", "fc2": "ffn/linear_1"}
        for hf, ct in pairs.items():
            sd[dst + hf + ".weight"] = _weight(v, src + ct + "/weight")
            sd[dst + hf + ".bias"] = _weight(v, src + ct + "/bias")
        for hf, ct in {"self_attn_layer_norm": "self_attention/layer_norm", "final_layer_norm": "ffn/layer_norm"}.items():
            sd[dst + hf + ".weight"] = _weight(v, src + ct + "/gamma")
            sd[dst + hf + ".bias"] = _weight(v, src + ct + "/beta")
    return dims, {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in sd.items()}
