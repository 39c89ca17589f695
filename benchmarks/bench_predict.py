"""Genre inference speed, memory and agreement with whisper-tiny dimensions (random weights).

    python benchmarks/bench_predict.py

Rows: stock transformers pipeline (first 30 s only), a naive loop (one window per forward),
and GenreClassifier at each precision and window cap. Agreement columns compare each row's
song-level output with the fp32 all-windows reference on the same song: cosine of the
mean-pooled encoder embedding and max |probability difference|. Random weights make the
probabilities near-uniform, so the embedding cosine is the sharper of the two checks.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

HEAD_GAIN = 300.0  # random head scaled so song-level top-1 probability is ~0.3-0.6

from benchmarks.common import music_like, sectioned_song, print_table, timeit, tiny_whisper_folder, write_wav
from genre_model.audio import load_audio
from genre_model.features import log_mel, plan_windows, stack_windows
from genre_model.predict import GenreClassifier


def pooled_embedding(clf: GenreClassifier, y: np.ndarray) -> np.ndarray:
    windows = plan_windows(y.size, hop=clf.hop, max_windows=clf.max_windows)
    feats = log_mel(stack_windows(y, windows), clf.n_mels)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=clf.precision == "bf16"):
        h = clf.model.encoder(feats).last_hidden_state.float()
    return h.mean(dim=(0, 1)).numpy()


def cli_peak_rss_mb(folder: str, wav: str) -> float:
    """Peak RSS of the CLI in its own process. VmHWM, not ru_maxrss: a child's ru_maxrss keeps the
    forking parent's peak from before exec (an empty child of this benchmark reads ~1 GB)."""
    code = ("import sys; from genre_model.predict import main; rc=main(sys.argv[1:]); "
            "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024)")
    out = subprocess.run([sys.executable, "-c", code, wav, "--model", folder, "--json", os.devnull],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    torch.manual_seed(0)
    folder = tiny_whisper_folder(head_gain=HEAD_GAIN)
    tmp = Path(tempfile.mkdtemp())
    wav30 = write_wav(tmp / "clip30.wav", music_like(30, seed=1))
    wav240 = write_wav(tmp / "song240.wav", sectioned_song(240, seed=2))
    y240 = load_audio(wav240)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU-only={not torch.cuda.is_available()}\n")

    from transformers import pipeline

    pipe = pipeline("audio-classification", model=folder, device="cpu")
    ref = GenreClassifier(folder, precision="fp32", max_windows=None)
    ref_p = np.array(list(ref.predict(wav240).probabilities.values()))
    ref_e = pooled_embedding(ref, y240)

    rows = []
    t30, _ = timeit(lambda: pipe(load_audio(wav30)), repeat=5)
    t240, _ = timeit(lambda: pipe(load_audio(wav240)), repeat=3)
    rows.append(["transformers pipeline (first 30 s only)", "fp32", 1, f"{t30:.3f}", f"{t240:.3f}", "-", "-", "-"])

    def naive(path):
        y = load_audio(path)
        probs = []
        for w in plan_windows(y.size, max_windows=None):
            with torch.inference_mode():
                probs.append(ref.model(log_mel(stack_windows(y, [w]))).logits.softmax(-1))
        return torch.cat(probs).mean(0)

    t30, _ = timeit(lambda: naive(wav30), repeat=5)
    t240, _ = timeit(lambda: naive(wav240), repeat=3)
    rows.append(["naive loop, one window per forward", "fp32", 8, f"{t30:.3f}", f"{t240:.3f}", "0", "0", "yes"])

    for precision in ("fp32", "bf16", "int8"):
        for max_windows in (None, 6, 4):
            clf = GenreClassifier(folder, precision=precision, max_windows=max_windows)
            t30, _ = timeit(lambda: clf.predict(wav30), repeat=5)
            t240, _ = timeit(lambda: clf.predict(wav240), repeat=3)
            p = np.array(list(clf.predict(wav240).probabilities.values()))
            e = pooled_embedding(clf, y240)
            cos = float(e @ ref_e / np.linalg.norm(e) / np.linalg.norm(ref_e))
            n = len(plan_windows(y240.size, max_windows=max_windows))
            same = "yes" if p.argmax() == ref_p.argmax() else "NO"
            rows.append([f"GenreClassifier (max_windows={max_windows})", precision, n, f"{t30:.3f}",
                         f"{t240:.3f}", f"{1 - cos:.1e}", f"{np.abs(p - ref_p).max():.3f}", same])

    print_table(["path", "precision", "windows (4 min)", "30-s clip s (median)", "4-min song s (median)",
                 "1-cos(pooled emb) vs fp32 all", "max |dp|", "same top-1"], rows)
    print(f"\nreference (fp32, all windows) song top-1 probability: {ref_p.max():.3f}")
    print(f"\nCLI peak RSS on the 4-minute song (default settings): {cli_peak_rss_mb(folder, wav240):.0f} MB")


if __name__ == "__main__":
    main()
