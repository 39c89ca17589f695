"""Training throughput with whisper-tiny dimensions (random weights), on this machine.

    python benchmarks/bench_training.py

Rows: feature pipeline alone (decode + log-mel per clip, i.e. what every epoch pays without a
cache, vs reading the cached arrow features), and a full training step (forward, backward,
AdamW) fed each way. On a GPU machine, run it with ``--device cuda --bf16``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from benchmarks.common import TINY_DIMS, music_like, print_table, write_wav


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    from datasets import Array2D, Dataset, Features, Value
    from transformers import WhisperForAudioClassification

    from genre_model.audio import load_audio
    from genre_model.features import N_FRAMES, log_mel, plan_windows, stack_windows
    from genre_model.model import GTZAN_GENRES, tiny_config

    tmp = Path(tempfile.mkdtemp())
    paths = [write_wav(tmp / f"c{i}.wav", music_like(30, seed=i), 22050) for i in range(args.clips)]
    labels = [i % 10 for i in range(args.clips)]

    def decode_features(batch_paths):
        return log_mel(np.concatenate([stack_windows(y, plan_windows(y.size)) for y in map(load_audio, batch_paths)]))

    t = time.perf_counter()
    feats = decode_features(paths).numpy().astype(np.float16)
    t_decode = time.perf_counter() - t
    ds = Dataset.from_dict({"input_features": list(feats), "label": labels},
                           features=Features({"input_features": Array2D((80, N_FRAMES), "float16"), "label": Value("int64")}))
    ds.save_to_disk(str(tmp / "feats"))
    ds = Dataset.load_from_disk(str(tmp / "feats")).with_format("torch")
    t = time.perf_counter()
    for i in range(0, len(ds), args.batch_size):
        ds[i:i + args.batch_size]["input_features"].float()
    t_cached = time.perf_counter() - t

    torch.manual_seed(0)
    model = WhisperForAudioClassification(tiny_config(GTZAN_GENRES, **TINY_DIMS)).to(args.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(x, y):
        with torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = torch.nn.functional.cross_entropy(model(x.to(args.device)).logits.float(), y.to(args.device))
        loss.backward()
        opt.step()
        opt.zero_grad()

    y_all = torch.tensor(labels)
    step(ds[0:args.batch_size]["input_features"].float(), y_all[:args.batch_size])  # warm-up
    t = time.perf_counter()
    for i in range(0, args.clips, args.batch_size):
        step(ds[i:i + args.batch_size]["input_features"].float(), y_all[i:i + args.batch_size])
    t_train_cached = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, args.clips, args.batch_size):
        step(decode_features(paths[i:i + args.batch_size]), y_all[i:i + args.batch_size])
    t_train_decode = time.perf_counter() - t
    n = args.clips
    rows = [
        ["features: decode wav (22 kHz) + resample + log-mel", f"{n / t_decode:.1f}"],
        ["features: read the cached arrow features", f"{n / t_cached:.1f}"],
        [f"train step fed from the cache (batch {args.batch_size})", f"{n / t_train_cached:.2f}"],
        [f"train step decoding audio every epoch (batch {args.batch_size})", f"{n / t_train_decode:.2f}"],
    ]
    dev = f"{args.device}{' bf16' if args.bf16 else ' fp32'}, {torch.get_num_threads()} threads"
    print(f"Training throughput, whisper-tiny dimensions (d_model 384, 4 layers), {dev}, {n} 30-s clips\n")
    print_table(["what", "clips / s"], rows)
    print(f"\nOne GTZAN epoch (~800 training clips) at the cached rate: {800 / (n / t_train_cached):.0f} s")


if __name__ == "__main__":
    main()
