"""Inference engines for the Whisper-encoder classifier: torch (the reference and the training
path) and OpenVINO (faster on CPUs), behind one small interface.

An engine maps a batch of Whisper log-mel features, ``shape = (n_windows, n_mels, 3000)``, to
``(logits, pooled)``: the classifier's logits ``(n_windows, n_labels)`` and the encoder's
mean-pooled last hidden state ``(n_windows, d_model)`` (what agreement checks compare).

The OpenVINO form is *built from* the loaded transformers model (``openvino.convert_model``)
and cached in a folder keyed by a hash of the weights and the library versions, so it is
rebuilt whenever the weights change and the Hub folder stays plain safetensors that stock
``pipeline()`` reads. Nothing requires OpenVINO: without it, ``auto`` falls back to torch.

Choice of the default (:func:`resolve_engine`), measured by benchmarks/bench_predict.py on the
real Whisper tiny.en encoder and real music, every window compared with torch fp32:

* CPU with native bf16 (AVX512-BF16 / AMX): OpenVINO with bf16 inference precision, about
  0.43 x torch fp32's time per window at pooled 1-cos ~5e-5, every window's top-1 kept;
* other CPUs: OpenVINO fp32 (same numbers as torch fp32 to ~1e-7, about 0.8 x its time);
* CUDA: torch with fp16 autocast (pooled 1-cos 7e-8 on an H200, 1000x tighter than bf16 and as
  fast; see :func:`genre_model.predict.resolve_precision`).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("genre_model")

ENGINES = ("auto", "torch", "openvino")
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str, device: str) -> str:
    """Map "auto" to a concrete engine: OpenVINO on a CPU where it is installed, else torch."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    kind = torch.device(device).type
    if engine == "openvino" and kind != "cpu":
        raise ValueError("the openvino engine runs on the CPU; use engine='torch' on a GPU")
    if engine == "openvino" and not openvino_available():
        raise ValueError("the openvino engine needs the openvino package (pip install openvino)")
    if engine != "auto":
        return engine
    return "openvino" if kind == "cpu" and openvino_available() else "torch"


class _Pooled(torch.nn.Module):
    """The classifier with a second output: the encoder's mean-pooled last hidden state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_features):
        out = self.model(input_features, output_hidden_states=True)
        return out.logits, out.hidden_states[-1].mean(dim=1)


class TorchEngine:
    """The transformers model in torch, optionally under bf16/fp16 autocast."""

    name = "torch"

    def __init__(self, model, device: str = "cpu", precision: str = "fp32"):
        self.module = _Pooled(model).eval()
        self.device = device
        self.precision = precision

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        kind = torch.device(self.device).type
        with torch.autocast(device_type=kind, dtype=_AUTOCAST.get(self.precision, torch.bfloat16),
                            enabled=self.precision in _AUTOCAST):
            logits, pooled = self.module(features.to(self.device))
        return logits.float().cpu().numpy(), pooled.float().cpu().numpy()


def weights_key(model) -> str:
    """A hash of the model's weights, config and the converter versions (the cache key)."""
    import openvino
    import transformers

    h = hashlib.sha256()
    h.update(f"{openvino.__version__}|{transformers.__version__}|{torch.__version__}|v1".encode())
    h.update(model.config.to_json_string().encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def default_cache_dir() -> Path:
    """``$GENRE_MODEL_CACHE`` or ``~/.cache/genre_model`` (XDG_CACHE_HOME honoured)."""
    env = os.environ.get("GENRE_MODEL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genre_model"


class OpenVINOEngine:
    """The classifier exported to OpenVINO IR (cached), compiled for the CPU.

    Parameters
    ----------
    model : a loaded ``WhisperForAudioClassification`` (float32)
    precision : "bf16" (OpenVINO's bf16 inference precision; only on CPUs with native bf16)
        or "fp32"
    cache_dir : where the IR is kept (default :func:`default_cache_dir`)
    threads : inference threads (None: OpenVINO's default, all cores)
    """

    name = "openvino"

    def __init__(self, model, precision: str = "fp32", cache_dir: str | os.PathLike | None = None,
                 threads: int | None = None):
        import openvino as ov

        if precision not in ("fp32", "bf16"):
            raise ValueError(f"the openvino engine runs fp32 or bf16, not {precision}")
        self.precision = precision
        folder = Path(cache_dir or default_cache_dir()) / "openvino" / weights_key(model)
        xml = folder / "model.xml"
        core = ov.Core()
        if xml.exists():
            ov_model = core.read_model(str(xml))
        else:
            n_mels = model.config.num_mel_bins
            example = torch.zeros(1, n_mels, 2 * model.config.max_source_positions)
            import warnings

            with warnings.catch_warnings():  # tracing warnings about Python-side shape checks
                warnings.simplefilter("ignore")
                ov_model = ov.convert_model(_Pooled(model).eval(), example_input=(example,),
                                            input=[(ov.PartialShape([-1, n_mels, example.shape[-1]]), ov.Type.f32)])
            try:  # write to a temporary name, then move: a concurrent reader never sees half a file
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f"tmp-{os.getpid()}"
                ov.save_model(ov_model, str(tmp / "model.xml"), compress_to_fp16=False)
                for f in ("model.xml", "model.bin"):
                    os.replace(tmp / f, folder / f)
                tmp.rmdir()
            except OSError as e:  # a read-only cache: run from memory
                log.warning("could not cache the OpenVINO model in %s (%s)", folder, e)
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                  "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(ov_model, "CPU", config)
        self.cache_folder = folder

    def __call__(self, features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        request = self.compiled.create_infer_request()  # one per call: safe from several threads
        out = request.infer({0: np.ascontiguousarray(features.cpu().numpy(), dtype=np.float32)})
        return np.asarray(out[0], np.float32), np.asarray(out[1], np.float32)


def make_engine(model, engine: str, device: str, precision: str, *, cache_dir=None, threads=None):
    """Build the engine :func:`resolve_engine` chose for ``model`` at ``precision``."""
    if engine == "openvino":
        return OpenVINOEngine(model, precision, cache_dir=cache_dir, threads=threads)
    return TorchEngine(model, device, precision)
