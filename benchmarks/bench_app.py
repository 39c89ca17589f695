"""The app end to end through gradio_client, with a whisper-tiny-sized random model.

    python benchmarks/bench_app.py

Rows: process start to first /analyze answer (cold, warm-up included), warm /analyze on a 30-s
clip and a 4-minute song, and 4 clients calling /analyze at once (median and max latency).
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

from benchmarks.common import print_table, tiny_whisper_folder, write_wav  # noqa: E402
from benchmarks.synth import make_piece  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from gradio_client import Client, handle_file

    folder = tiny_whisper_folder()
    tmp = Path(tempfile.mkdtemp())
    clip, _ = make_piece(901, tmp, seconds=30.0, drums=True)
    song, _ = make_piece(902, tmp, seconds=240.0, form="ABACABAC", drums=True)
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

        rows = [["process start -> first /analyze answer (cold, 30-s clip)", f"{cold:.2f}", "-", "-"]]
        for name, path, n in (("warm /analyze, 30-s clip", clip, 5), ("warm /analyze, 4-min song", song, 3)):
            ts = [call(path) for _ in range(n)]
            rows.append([name, f"{statistics.median(ts):.2f}", f"{max(ts):.2f}", "0"])
        errors, ts = 0, []
        with ThreadPoolExecutor(4) as ex:
            for fut in [ex.submit(call, clip) for _ in range(8)]:
                try:
                    ts.append(fut.result())
                except Exception:
                    errors += 1
        rows.append(["4 clients at once, 30-s clip (8 calls)", f"{statistics.median(ts):.2f}", f"{max(ts):.2f}", str(errors)])
    finally:
        proc.terminate()
        proc.wait(10)
    print("App through gradio_client on this machine (whisper-tiny dimensions, random weights); "
          "goals: 30-s clip <= 1 s, 4-min song <= 4 s\n")
    print_table(["what", "median s", "max s", "errors"], rows)


if __name__ == "__main__":
    main()
