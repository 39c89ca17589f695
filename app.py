"""Genre + theory: the Gradio Space.

    python app.py [--host 127.0.0.1] [--port 7860] [--model ID_OR_DIR]

Endpoints for gradio_client (JSON with stable keys, documented in README.md):
    /analyze  genre + theory report      /genre  genre only      /theory  theory report only
The genre model is a Hub id or local folder (``--model`` or ``GENRE_MODEL``; default
DEFAULT_MODEL). Without it the app still gives the spectrogram and the theory report.
"""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import numpy as np

from genre_model.audio import SAMPLE_RATE, AudioError, decode_audio, resample
from genre_model.predict import DEFAULT_MODEL

MAX_DURATION_S = 15 * 60  # longer uploads are refused with a message
MAX_FILE_SIZE = "100mb"
CONCURRENCY = 2  # analyses at once: a 2-vCPU Space
QUEUE_SIZE = 16
EXAMPLES = sorted(str(p) for p in (Path(__file__).parent / "examples").glob("*.ogg"))
log = logging.getLogger("app")
_POOL = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="genre")


class Engine:
    """The genre model (or why there is none) and the analysis both endpoints share."""

    def __init__(self, model: str | None):
        self.model_id = model
        self.classifier = None
        self.error: str | None = None
        self._lock = threading.Lock()

    def load(self) -> "Engine":
        from genre_model.model import ModelLoadError
        from genre_model.predict import GenreClassifier

        if not self.model_id:
            self.error = "no genre model configured: set GENRE_MODEL (Hub id or local folder) or pass --model"
            return self
        try:
            self.classifier = GenreClassifier(self.model_id)
        except ModelLoadError as e:
            self.error = f"{e}"
        except Exception as e:  # a broken folder, an incompatible checkpoint...
            self.error = f"the genre model '{self.model_id}' could not be loaded: {type(e).__name__}: {e}"
        if self.error:
            log.warning("genre disabled: %s", self.error)
        return self

    def warm_up(self) -> None:
        """Pay one-off costs (imports, first-call allocations) before the first visitor does."""
        sr = 22050
        t = np.arange(6 * sr) / sr
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        self.analyze(y, sr, genre=True, theory=True, pictures=True)

    def _predict(self, y16: np.ndarray):
        with self._lock:  # one forward pass at a time
            return self.classifier.predict(y16, sr=SAMPLE_RATE)

    def analyze(self, y: np.ndarray, sr: int, *, genre: bool, theory: bool, pictures: bool, progress=None):
        """Run the requested parts on decoded samples. Returns a :class:`Result`."""
        from genre_model import plots
        from genre_model.theory import analyze_signal

        step = progress or (lambda *a, **k: None)
        t0 = time.perf_counter()
        y16 = resample(y, sr, SAMPLE_RATE)
        pred, genre_error, job = None, None, None
        if genre:
            step(0.1, desc="Listening for the genre")
            if self.classifier is None:
                genre_error = self.error
            else:  # the encoder (torch) and the theory (numpy) release the GIL: run them side by side
                job = _POOL.submit(self._predict, y16)
        report = sig = None
        if theory or pictures:
            step(0.45, desc="Analysing key, rhythm, chords and structure")
            report, sig = analyze_signal(y, sr)
        if job is not None:
            try:
                pred = job.result()
            except AudioError as e:  # e.g. digital silence: the report still describes it
                genre_error = str(e)
        figs = {}
        if pictures:
            step(0.85, desc="Drawing")
            figs["mel"] = plots.mel_spectrogram(
                y16, n_mels=self.classifier.n_mels if self.classifier else 80, beats=report.tempo.beats,
                downbeats=report.meter.downbeats, segments=report.structure.segments)
            figs["chroma"] = plots.chromagram(sig.chroma, sig.frames_to_time(np.arange(sig.n_frames)),
                                              key=report.key, chords=report.chords.segments)
            if pred is not None and len(pred.timeline) > 1:
                figs["timeline"] = plots.genre_timeline(pred)
        return Result(pred, genre_error, report, figs, round(time.perf_counter() - t0, 3), y.size / sr)


@dataclass
class Result:
    prediction: object
    genre_error: str | None
    report: object
    figures: dict
    elapsed_s: float
    duration_s: float

    def genre_json(self) -> dict:
        p = self.prediction
        genre = None if p is None else p.to_dict() | {"label": p.label}
        return {"genre": genre, "genre_error": self.genre_error}

    def to_json(self) -> dict:
        """The API answer: genre keys when the genre was asked for (it gave a prediction or a
        reason), theory keys when the report was made."""
        out = {"duration_s": round(self.duration_s, 3), "elapsed_s": self.elapsed_s}
        if self.prediction is not None or self.genre_error is not None:
            out |= self.genre_json()
        if self.report is not None:
            out |= {"summary": self.report.summary(), "theory": self.report.to_dict()}
        return out


def decode(path) -> tuple[np.ndarray, int]:
    """Decode an upload once, at its own rate (loudness and quality need it); clear errors."""
    if not path:
        raise gr.Error("No audio: upload a file or record from the microphone first.")
    try:
        return decode_audio(path, target_sr=None, max_duration=MAX_DURATION_S, allow_silent=True)
    except AudioError as e:
        raise gr.Error(f"{e}", title="Cannot use this audio") from None


def guarded(fn):
    """Turn unexpected failures into a short message (no stack trace reaches the page)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:
            log.exception("analysis failed")
            raise gr.Error(f"Something went wrong while analysing this file ({type(e).__name__}). "
                           "Other files still work; please report this one.") from None
    return wrapper


CARD = ('<div class="card"><div class="card-title">{title}</div><div class="card-value">{value}</div>'
        '<div class="card-note">{note}</div></div>')


def dashboard(report) -> str:
    """The ten-second read: one card per topic, big value, small note."""
    k, t, m, c, s, tb, d, q, mood = (report.key, report.tempo, report.meter, report.chords, report.structure,
                                      report.timbre, report.dynamics, report.quality, report.mood)
    nd = "—"
    cards = [
        ("Key", k.label or nd, f"confidence {k.confidence:.0%}" if k.label else k.reason),
        ("Tempo", f"{t.bpm:.0f} BPM" if t.bpm else nd, f"{len(t.beats)} beats · clarity {t.confidence:.0%}" if t.bpm else t.reason),
        ("Meter", m.time_signature or nd, f"{m.subdivision} subdivision" if m.time_signature else m.reason),
        ("Chords", " – ".join(c.progression) if c.progression else nd,
         " ".join(x.replace(":maj", "").replace(":min", "m") for x in c.progression_chords) or c.reason),
        ("Structure", s.form or nd, f"{len(s.segments)} section{'' if len(s.segments) == 1 else 's'}"),
        ("Timbre", tb.brightness, f"centroid {tb.spectral_centroid_hz.mean:.0f} Hz · flatness {tb.spectral_flatness.mean:.2f}"),
        ("Energy", d.energy, f"{d.onset_rate:.1f} onsets/s · RMS {d.rms_db:.0f} dBFS"),
        ("Loudness", f"{d.integrated_lufs:.1f} LUFS" if d.integrated_lufs is not None else nd,
         f"LRA {d.loudness_range_lu if d.loudness_range_lu is not None else '—'} LU · true peak {d.true_peak_dbtp:.1f} dBTP"),
        ("Quality", "OK" if not q.issues else f"{len(q.issues)} issue(s)", "; ".join(q.issues) or
         f"SNR estimate {q.snr_estimate_db:.0f} dB · {q.bandwidth_hz / 1000:.1f} kHz bandwidth"),
        ("Mood", mood.label or nd, "heuristic from mode, tempo, brightness, energy"),
    ]
    body = "".join(CARD.format(title=a, value=html.escape(str(b)), note=html.escape(str(n or ""))) for a, b, n in cards)
    return f'<div class="dash">{body}</div>'


CSS = """
.dash {display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:10px;}
.card {background:#161a23; border:1px solid #2a2f3a; border-radius:10px; padding:10px 12px;}
.card-title {font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:#8b93a7;}
.card-value {font-size:22px; font-weight:700; color:#4fd1c5; margin:2px 0;}
.card-note {font-size:12px; color:#a9adb8;}
"""


def build_demo(engine: Engine) -> gr.Blocks:
    def analyze_ui(path, progress=gr.Progress()):
        y, sr = decode(path)
        res = engine.analyze(y, sr, genre=True, theory=True, pictures=True, progress=progress)
        data = res.to_json()
        out = Path(tempfile.mkdtemp(prefix="report-")) / f"{Path(str(path)).stem}-analysis.json"
        out.write_text(json.dumps(data, indent=2))
        p = res.prediction
        label = {t.label: t.score for t in p.top} if p is not None else None
        status = (f"Whole song: {len(p.timeline)} of {p.windows_total} 30-s windows, model `{p.model}`, "
                  f"{p.elapsed_s:.2f} s" if p is not None else f"**No genre:** {res.genre_error}")
        timeline = res.figures.get("timeline")
        return (label, status, gr.update(value=timeline, visible=timeline is not None), res.figures["mel"],
                res.figures["chroma"], dashboard(res.report), res.report.to_markdown(), data, str(out))

    def api_analyze(path) -> dict:
        y, sr = decode(path)
        return engine.analyze(y, sr, genre=True, theory=True, pictures=False).to_json()

    def api_genre(path) -> dict:
        y, sr = decode(path)
        res = engine.analyze(y, sr, genre=True, theory=False, pictures=False)
        if res.prediction is None:
            raise gr.Error(f"No genre: {res.genre_error}")
        return res.to_json()

    def api_theory(path) -> dict:
        y, sr = decode(path)
        return engine.analyze(y, sr, genre=False, theory=True, pictures=False).to_json()

    model_note = (f"Genre model: `{engine.model_id}`" if engine.classifier is not None
                  else f"⚠️ Genre unavailable — {engine.error}. Spectrogram and theory report still work.")
    with gr.Blocks(title="Genre + theory") as demo:
        gr.Markdown("# Genre + theory\nDrop a song (any length, any common format) or record one. "
                    "You get its genre along the whole song, what Whisper hears, and a music-theory report.\n\n"
                    + model_note)
        with gr.Row():
            with gr.Column(scale=2):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Music")
                button = gr.Button("Analyze", variant="primary")
                if EXAMPLES:
                    gr.Examples(EXAMPLES, inputs=audio, label="Examples (rendered by this project, CC0)")
            with gr.Column(scale=3):
                label = gr.Label(num_top_classes=5, label="Genre (whole song)")
                status = gr.Markdown()
        timeline = gr.Plot(label="Genre along the song", visible=False)
        dash = gr.HTML()
        mel = gr.Plot(label="Mel spectrogram with beats and sections")
        chroma = gr.Plot(label="Chroma, chords and key")
        with gr.Accordion("Full report", open=False):
            report_md = gr.Markdown()
            report_json = gr.JSON(label="Report (JSON)")
            download = gr.File(label="Download the analysis (JSON)")
        button.click(guarded(analyze_ui), audio, [label, status, timeline, mel, chroma, dash, report_md, report_json, download],
                     api_visibility="undocumented", concurrency_id="analysis")
        with gr.Row(visible=False):  # API-only endpoints: file in, JSON out
            api_in, api_out = gr.Audio(type="filepath"), gr.JSON()
            for name, fn in (("analyze", api_analyze), ("genre", api_genre), ("theory", api_theory)):
                gr.Button(name).click(guarded(fn), api_in, api_out, api_name=name, concurrency_id="analysis")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def create_app(model: str | None = None, warm_up: bool = True) -> gr.Blocks:
    engine = Engine(model).load()
    if warm_up:
        engine.warm_up()
    return build_demo(engine)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Genre + theory Gradio app")
    ap.add_argument("--host", default="0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    ap.add_argument("--model", default=os.environ.get("GENRE_MODEL", DEFAULT_MODEL),
                    help=f"Hub id or local folder of the genre model (default: $GENRE_MODEL or {DEFAULT_MODEL})")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    demo = create_app(args.model)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE, css=CSS,
                theme=gr.themes.Soft(primary_hue="teal"), footer_links=["api"], show_error=True)


if __name__ == "__main__":
    main()
