"""Genre inference on a CUDA GPU with REAL Whisper weights and REAL music: speed, GPU memory, cold
load and agreement of each precision, in one run (issue 13, the GPU path).

A GPU machine here has no network and no apt music, so the inputs are prepared on a CPU machine
that has them and travel as a small bundle:

    python benchmarks/bench_predict_cuda.py prepare BUNDLE   # here: model, music, CPU reference
    python benchmarks/bench_predict_cuda.py run BUNDLE       # on the GPU machine

The bundle holds Whisper tiny.en converted to ``WhisperForAudioClassification`` with the fixed
seeded head of bench_predict.py (no trained GTZAN head can be downloaded here), the 4-minute
excerpt of Wesnoth's "battle.ogg" at 16 kHz, 8 windows of other real tracks (orchestral and metal),
and the pooled encoder states of torch fp32 on the CPU for those 16 windows.

Columns: median seconds of GenreClassifier.predict on the 30-s clip and the 4-minute song (audio
already decoded; features + encoder on the GPU), windows per second at batch 64, ratio to CUDA
fp32, pooled 1-cos (max over the 16 windows) against CUDA fp32 and against CPU fp32, top-1 kept
over decisive windows (see agreement.py), peak GPU memory of the song, and cold load (a fresh
process from start to a ready classifier).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from benchmarks.agreement import one_minus_cos, top1_agreement
from benchmarks.common import print_table, timeit

PRECISIONS = ["fp32", "bf16", "fp16"]
SR = 16000


def prepare(bundle: Path) -> None:
    import tempfile

    from benchmarks.bench_predict import real_inputs
    from benchmarks.real_music import ctranslate2_whisper
    from genre_model.audio import load_audio
    from genre_model.model import GTZAN_GENRES, build_model, save_model
    from genre_model.predict import GenreClassifier

    bundle.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model, fe = build_model(ctranslate2_whisper("tiny.en"), GTZAN_GENRES)
    with torch.no_grad():  # the same fixed peaked head as bench_predict.py
        model.classifier.weight.mul_(20.0)
    save_model(model, fe, bundle / "tiny.en-fixed-head")
    clip, song, windows = real_inputs(Path(tempfile.mkdtemp(prefix="bench-cuda-")))
    y = load_audio(song)
    np.save(bundle / "song16k.npy", (np.clip(y, -1, 1) * 32767).astype(np.int16))
    np.save(bundle / "other_windows.npy", (np.clip(windows[8:], -1, 1) * 32767).astype(np.int16))
    wins = _windows(bundle)
    clf = GenreClassifier(str(bundle / "tiny.en-fixed-head"), engine="torch", precision="fp32")
    np.save(bundle / "cpu_fp32_pooled.npy", clf.encode(wins)[1])
    print(f"bundle written to {bundle}")


def _windows(bundle: Path) -> np.ndarray:
    from genre_model.features import plan_windows, stack_windows

    y = np.load(bundle / "song16k.npy").astype(np.float32) / 32767
    own = stack_windows(y, plan_windows(y.size))
    other = np.load(bundle / "other_windows.npy").astype(np.float32) / 32767
    return np.concatenate([own, other]).astype(np.float32)


COLD = r"""
import sys, time
t0 = time.perf_counter()
import torch
from genre_model.predict import GenreClassifier
clf = GenreClassifier(sys.argv[1], device=sys.argv[3], precision=sys.argv[2], engine="torch", batch_size=8)
import numpy as np
clf.predict(np.zeros(16000 * 30, np.float32) + 1e-3, sr=16000)
if torch.cuda.is_available(): torch.cuda.synchronize()
print(time.perf_counter() - t0)
"""


def run(bundle: Path, repeat: int, device: str = "cuda") -> None:
    from genre_model.predict import GenreClassifier, resolve_precision

    folder = str(bundle / "tiny.en-fixed-head")
    y = np.load(bundle / "song16k.npy").astype(np.float32) / 32767
    clip = y[: 30 * SR]
    wins = _windows(bundle)
    cpu_ref = np.load(bundle / "cpu_fp32_pooled.npy")
    big = np.concatenate([wins] * 4)  # 64 windows: throughput at a batch size a GPU likes

    def sync(fn):
        def wrapped():
            out = fn()
            if device == "cuda":
                torch.cuda.synchronize()
            return out
        return wrapped

    print(f"{torch.cuda.get_device_name() if device == 'cuda' else 'CPU (smoke test)'}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"default precision on {device}: {resolve_precision('auto', device)}; agreement over {len(wins)} real windows\n")
    rows, ref, ref_t = [], None, None
    from transformers import pipeline

    pipe = pipeline("audio-classification", model=folder, device=device)
    t30, _ = timeit(sync(lambda: pipe(clip.copy())), repeat=repeat)
    rows.append(["stock pipeline() fp32 (first 30 s only)", "-", f"{t30:.4f}", "-", "-", "-", "-", "-", "-", "-", "-"])
    for precision in PRECISIONS if device == "cuda" else ["fp32", "bf16"]:
        for batch in (8, 64):
            clf = GenreClassifier(folder, device=device, precision=precision, engine="torch", batch_size=batch)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            t30, _ = timeit(sync(lambda: clf.predict(clip, sr=SR)), repeat=repeat)
            t240, _ = timeit(sync(lambda: clf.predict(y, sr=SR)), repeat=repeat)
            peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else float("nan")
            tput, _ = timeit(sync(lambda: clf.encode(big)), repeat=max(2, repeat // 2))
            pooled = clf.encode(wins)[1]
            if ref is None:
                ref, ref_t = pooled, t240
            kept, dec, ties = top1_agreement(ref, pooled)
            kept_cpu, dec_cpu, ties_cpu = top1_agreement(cpu_ref, pooled)
            cold = "-"
            if batch == 8:
                out = subprocess.run([sys.executable, "-c", COLD, folder, precision, device], cwd=ROOT, capture_output=True,
                                     text=True, env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
                cold = f"{float(out.stdout.strip().splitlines()[-1]):.1f}" if out.returncode == 0 else out.stderr[-200:]
            rows.append([f"torch {precision}" + (" autocast" if precision != "fp32" else ""), batch, f"{t30:.4f}",
                         f"{t240:.4f}", f"{len(big) / tput:.0f}", f"{t240 / ref_t:.2f}",
                         f"{one_minus_cos(pooled, ref).max():.1e}", f"{one_minus_cos(pooled, cpu_ref).max():.1e}",
                         f"{kept}/{dec} ({ties} ties) vs CUDA fp32; {kept_cpu}/{dec_cpu} vs CPU fp32",
                         f"{peak:.0f}", cold])
    print_table(["engine / precision", "batch", "30-s clip s", "4-min song s", "windows/s (64)", "x CUDA fp32",
                 "1-cos vs CUDA fp32", "1-cos vs CPU fp32", "top-1 kept", "peak GPU MiB", "cold load s"], rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["prepare", "run"])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cuda", help="cpu: a smoke test of this script, not a measurement")
    args = ap.parse_args()
    if args.mode == "prepare":
        prepare(args.bundle)
    else:
        if args.device == "cuda" and not torch.cuda.is_available():
            sys.exit("needs a CUDA GPU")
        run(args.bundle, args.repeat, args.device)


if __name__ == "__main__":
    main()
