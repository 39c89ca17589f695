"""Genre + theory: the Gradio Space.

    python app.py [--host 127.0.0.1] [--port 7860] [--model ID_OR_DIR] [--max-minutes M]

Endpoints for gradio_client and MCP clients (JSON with stable keys, documented in README.md):
    /analyze  genre + theory report      /genre  genre only      /theory  theory report only
The genre model is a Hub id or local folder (``--model`` or ``GENRE_MODEL``; default
genre_model.predict.DEFAULT_MODEL). Without it the app still gives the spectrogram and the
theory report, and the endpoints say why there is no genre.
"""
from __future__ import annotations

import os

# Two analyses share two vCPUs: numeric libraries get one thread each (set before numpy/torch
# load); the genre encoder, one pass at a time behind a lock, gets ENCODER_THREADS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import html
import json
import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from genre_model.audio import MAX_DURATION, SAMPLE_RATE, AudioError, AudioLimits, decode_audio, limit_text, resample
from genre_model.features import CHUNK_LENGTH
from genre_model.predict import DEFAULT_MODEL

MAX_DURATION_S = float(os.environ.get("GENRE_MAX_MINUTES", MAX_DURATION / 60)) * 60  # the one duration limit
MAX_FILE_SIZE = "100mb"
CONCURRENCY = 2  # analyses at once: a 2-vCPU Space
QUEUE_SIZE = 16
ENCODER_THREADS = 2
CACHE_CLEANUP = (3600, 3600)  # every hour, delete uploads and results older than an hour
EXAMPLES = sorted(str(p) for p in (Path(__file__).parent / "examples").glob("*.ogg"))
DOWNLOADS = Path(tempfile.gettempdir()) / "genre-theory-downloads"  # one folder, pruned; no folder per request
log = logging.getLogger("app")
_POOL = ThreadPoolExecutor(max_workers=2 * CONCURRENCY, thread_name_prefix="analysis")  # genre + theory per analysis


def limits_text() -> str:
    """The limits in words, the same on the page, in API errors, the CLIs and README."""
    return f"up to {limit_text(AudioLimits(max_duration=MAX_DURATION_S))} and {MAX_FILE_SIZE[:-2]} MB"


class Engine:
    """The genre model (or why there is none) and the analysis every endpoint shares."""

    def __init__(self, model: str | None):
        self.model_id = model
        self.classifier = None
        self.error: str | None = None
        self._lock = threading.Lock()

    def load(self) -> "Engine":
        import torch

        from genre_model.model import ModelLoadError
        from genre_model.predict import GenreClassifier

        torch.set_num_threads(1)  # features and theory: one thread per request (see the top of the file)
        if not self.model_id:
            self.error = "no genre model configured: set GENRE_MODEL (Hub id or local folder) or pass --model"
            return self
        try:
            device = "cuda" if torch.cuda.is_available() else "cpu"  # a Space on GPU hardware: fp16 there
            self.classifier = GenreClassifier(self.model_id, device=device, threads=ENCODER_THREADS,
                                              max_duration=MAX_DURATION_S, batch_size=8 if device == "cuda" else 4)
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
        for _ in self.stream(y, sr, genre=True, theory=True, pictures=True):
            pass

    def _predict(self, y16: np.ndarray):
        with self._lock:  # one encoder pass at a time: it uses ENCODER_THREADS cores
            return self.classifier.predict(y16, sr=SAMPLE_RATE)

    def stream(self, y: np.ndarray, sr: int, *, genre: bool, theory: bool, pictures: bool, loudness=None):
        """Run the requested parts on decoded samples (``loudness``: the channels' measurements from
        :func:`decode`); yields a :class:`Result` when the genre is known (if asked for) and again,
        complete, when the report and pictures are done."""
        from genre_model import plots
        from genre_model.theory import analyze_signal

        t0 = time.perf_counter()
        y16 = resample(y, sr, SAMPLE_RATE)
        res = Result(None, None, None, {}, 0.0, y.size / sr)
        job = None
        if genre:
            if self.classifier is None:
                res.genre_error = self.error
            else:  # the encoder and the theory (numpy) release the GIL: run them side by side
                job = _POOL.submit(self._predict, y16)
        theory_job = _POOL.submit(analyze_signal, y, sr, loudness=loudness) if (theory or pictures) else None
        if job is not None:
            try:
                res.prediction = job.result()
            except AudioError as e:  # e.g. digital silence: the report still describes it
                res.genre_error = str(e)
            if res.prediction is not None and len(res.prediction.timeline) > 1 and pictures:
                res.figures["timeline"] = plots.genre_timeline(res.prediction)
            res.elapsed_s = round(time.perf_counter() - t0, 3)
            if theory_job is not None:
                yield res
        if theory_job is not None:
            res.report, sig = theory_job.result()
            if pictures:
                res.figures["mel"] = plots.mel_spectrogram(
                    y16, n_mels=self.classifier.n_mels if self.classifier else 80, beats=res.report.tempo.beats,
                    downbeats=res.report.meter.downbeats, segments=res.report.structure.segments)
                res.figures["chroma"] = plots.chromagram(sig.chroma, sig.frames_to_time(np.arange(sig.n_frames)),
                                                         key=res.report.key, chords=res.report.chords.segments)
        res.elapsed_s = round(time.perf_counter() - t0, 3)
        yield res

    def analyze(self, y: np.ndarray, sr: int, **parts) -> "Result":
        """:meth:`stream`'s complete result."""
        res = None
        for res in self.stream(y, sr, **parts):
            pass
        return res


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


def user_error(message: str, title: str = "Cannot use this audio") -> gr.Error:
    """A routine problem with the input: one log line, no traceback, the message on the page."""
    log.info("refused: %s", message)
    return gr.Error(message, title=title, print_exception=False)


def decode(path, measure: bool = True) -> tuple:
    """Decode an upload once, at its own rate (loudness and quality need it), with the channels'
    loudness, peaks and clipping measured on the way when ``measure``; clear errors.
    Returns (y, rate, Loudness or None)."""
    from genre_model.audio import MIN_DURATION
    from genre_model.theory.report import decode_measured

    if not path:
        raise user_error(f"No audio received: upload a file ({limits_text()}) or record from the microphone.",
                         title="No audio")
    try:
        if measure:
            return decode_measured(path, max_duration=MAX_DURATION_S, min_duration=MIN_DURATION)
        return (*decode_audio(path, target_sr=None, max_duration=MAX_DURATION_S, allow_silent=True), None)
    except AudioError as e:
        raise user_error(f"{e}") from None


def guarded(fn):
    """Routine input problems pass through as one-line messages; anything unexpected is logged
    with its traceback (once) and the visitor gets a short message. Works for generators too."""
    import functools
    import inspect

    def unexpected(e: Exception) -> gr.Error:
        log.exception("analysis failed")
        return gr.Error(f"Something went wrong while analysing this file ({type(e).__name__}). "
                        "Other files still work; please report this one.", print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as e:
                raise unexpected(e) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:
            raise unexpected(e) from None
    return wrapper


CARD = ('<div class="card"><div class="card-title">{title}</div><div class="card-value">{value}</div>'
        '<div class="card-note">{note}</div></div>')


def dashboard(report) -> str:
    """The ten-second read: one card per topic, big value, small note."""
    from genre_model.theory.chords import chord_name

    k, t, m, c, s, tb, d, q, mood = (report.key, report.tempo, report.meter, report.chords, report.structure,
                                      report.timbre, report.dynamics, report.quality, report.mood)
    nd = "—"
    cards = [
        ("Key", k.label or nd, (f"confidence {k.confidence:.0%}" + (f" · {k.note}" if k.note else "")
                                + (f" · tuned {k.tuning_cents:+.0f} cents" if abs(k.tuning_cents) >= 10 else ""))
         if k.label else k.reason),
        ("Tempo", f"{t.bpm:.0f} BPM" if t.bpm else nd, " · ".join(filter(None, [t.change_text(), f"{len(t.beats)} beats",
                                                                           f"clarity {t.confidence:.0%}",
                                                                           *(f"or {a:.0f} BPM" for a in t.alternatives)]))
         if t.bpm else t.reason),
        ("Meter", m.time_signature or nd, f"{m.subdivision} subdivision · confidence {m.confidence:.0%}"
         + "".join(f" · or {a}" for a in m.alternatives) if m.time_signature else m.reason),
        ("Chords", " – ".join(c.progression) if c.progression else nd,
         " ".join(map(chord_name, c.progression_chords)) or c.reason),
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


def genre_status(res: Result) -> str:
    p = res.prediction
    if p is None:
        return f"**No genre:** {res.genre_error}"
    text = (f"Whole song: {len(p.timeline)} of {p.windows_total} 30-s windows"
            + (f" ({p.windows_silent} near-silent left out)" if p.windows_silent else "")
            + f", model `{p.model}`, {p.elapsed_s:.2f} s")
    if p.duration_s < CHUNK_LENGTH:
        text += (f"\n\n*This take is {p.duration_s:.0f} s. Whisper hears 30-s windows, so it was repeated to fill one; "
                 "a take of 30 s or more gives a steadier answer.*")
    return text


def save_download(data: dict, stem: str) -> str:
    """Write the analysis JSON into the app's one downloads folder (files older than an hour are
    removed); gradio copies it into its own cache, which ``delete_cache`` cleans."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in DOWNLOADS.glob("*.json"):
        try:
            if now - old.stat().st_mtime > CACHE_CLEANUP[1]:
                old.unlink()
        except OSError:
            pass
    path = DOWNLOADS / f"{stem[:60]}-{uuid.uuid4().hex[:8]}-analysis.json"
    path.write_text(json.dumps(data, indent=2))
    return str(path)


CSS = """
.dash {display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:10px;}
.card {background:var(--block-background-fill); border:1px solid var(--border-color-primary); border-radius:10px; padding:10px 12px;}
.card-title {font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--body-text-color-subdued);}
.card-value {font-size:22px; font-weight:700; color:#0d9488; margin:2px 0;}
.card-note {font-size:12px; color:var(--body-text-color-subdued);}
"""


def build_demo(engine: Engine, delete_cache: tuple[int, int] | None = CACHE_CLEANUP) -> gr.Blocks:
    """The page and the endpoints. ``delete_cache``: gradio's (frequency, age) clean-up of uploads and
    results; a closing app also deletes its cached files (examples included), so a second app in
    the same process (tests) passes None."""
    def analyze_ui(path):
        """The page: the genre first, then the report and pictures (a generator)."""
        y, sr, loudness = decode(path)
        skip = gr.skip()
        for res in engine.stream(y, sr, genre=True, theory=True, pictures=True, loudness=loudness):
            p = res.prediction
            label = {t.label: t.score for t in p.top} if p is not None else None
            timeline = res.figures.get("timeline")
            head = (label, genre_status(res), gr.update(value=timeline, visible=timeline is not None))
            if res.report is None:
                yield (*head, skip, skip, "<p>Analysing key, rhythm, chords and structure…</p>", skip, skip, skip)
                continue
            data = res.to_json()
            yield (*head, res.figures["mel"], res.figures["chroma"], dashboard(res.report), res.report.to_markdown(),
                   data, save_download(data, Path(str(path)).stem))

    def api_analyze(audio: str) -> dict:
        """Genre (Whisper encoder, whole song, per-30-s timeline) and music-theory report of a song.

        Args:
            audio: the song: an audio file (wav, flac, ogg, mp3, m4a, ...), up to the app's limits.
        Returns:
            dict with "genre" (label, top, probabilities, timeline) or null plus "genre_error",
            "summary" (one readable line per topic) and "theory" (key, tempo, meter, chords,
            structure, timbre, dynamics, quality, mood).
        """
        y, sr, loudness = decode(audio)
        return engine.analyze(y, sr, genre=True, theory=True, pictures=False, loudness=loudness).to_json()

    def api_genre(audio: str) -> dict:
        """Genre of a whole song from a fine-tuned Whisper encoder (GTZAN's 10 genres).

        Args:
            audio: the song: an audio file (wav, flac, ogg, mp3, m4a, ...).
        Returns:
            dict with "genre" (label, top, probabilities, timeline per 30-s window) or null with the
            reason in "genre_error" (no model, digital silence...), "duration_s", "elapsed_s".
        """
        y, sr, _ = decode(audio, measure=False)
        return engine.analyze(y, sr, genre=True, theory=False, pictures=False).to_json()

    def api_theory(audio: str) -> dict:
        """Music-theory report of a song from signal heuristics: key, tempo and beats, meter, chords,
        structure, timbre, energy, loudness (BS.1770), audio quality and a mood heuristic.

        Args:
            audio: the song: an audio file (wav, flac, ogg, mp3, m4a, ...).
        Returns:
            dict with "summary" (one readable line per topic) and "theory" (every measurement,
            each topic with a "reason" when it cannot be determined).
        """
        y, sr, loudness = decode(audio)
        return engine.analyze(y, sr, genre=False, theory=True, pictures=False, loudness=loudness).to_json()

    model_note = (f"Genre model: `{engine.model_id}`" if engine.classifier is not None
                  else f"⚠️ Genre unavailable — {engine.error}. Spectrogram and theory report still work.")
    with gr.Blocks(title="Genre + theory", delete_cache=delete_cache) as demo:
        gr.Markdown(f"# Genre + theory\nDrop a song ({limits_text()}, any common format) or record one. "
                    "You get its genre along the whole song, what Whisper hears, and a music-theory report.\n\n"
                    + model_note)
        with gr.Row():
            with gr.Column(scale=2):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Music")
                button = gr.Button("Analyze", variant="primary")
            with gr.Column(scale=3):
                label = gr.Label(num_top_classes=5, label="Genre (whole song)")
                status = gr.Markdown()
        timeline = gr.Plot(label="Genre along the song", visible=False, show_label=False)
        dash = gr.HTML()
        mel = gr.Plot(label="Mel spectrogram with beats and sections", show_label=False, elem_id="mel-plot")  # titled in the picture
        chroma = gr.Plot(label="Chroma, chords and key", show_label=False, elem_id="chroma-plot")
        with gr.Accordion("Full report", open=False):
            report_md = gr.Markdown()
            report_json = gr.JSON(label="Report (JSON)")
            download = gr.File(label="Download the analysis (JSON)")
        outputs = [label, status, timeline, mel, chroma, dash, report_md, report_json, download]
        ui = guarded(analyze_ui)
        button.click(ui, audio, outputs, api_visibility="undocumented", concurrency_id="analysis")
        if EXAMPLES:  # run on click; not cached: gradio 6.31 cannot cache a Plot (an update fails with "'Plot'
            # object has no attribute 'info'", an empty one is read back as invalid JSON)
            gr.Examples(EXAMPLES, inputs=audio, outputs=outputs, fn=ui, run_on_click=True, cache_examples=False,
                        label="Examples (rendered by this project, CC0): click one to analyse it")
        with gr.Row(visible=False):  # API-only endpoints: file in, JSON out (also MCP tools)
            api_in, api_out = gr.Audio(type="filepath"), gr.JSON()
            for name, fn in (("analyze", api_analyze), ("genre", api_genre), ("theory", api_theory)):
                gr.Button(name).click(guarded(fn), api_in, api_out, api_name=name, concurrency_id="analysis")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def create_app(model: str | None = None, warm_up: bool = True, delete_cache=CACHE_CLEANUP) -> gr.Blocks:
    engine = Engine(model).load()
    if warm_up:
        engine.warm_up()
    return build_demo(engine, delete_cache)


LAUNCH = dict(max_file_size=MAX_FILE_SIZE, css=CSS, theme=gr.themes.Soft(primary_hue="teal"), mcp_server=True)


def main(argv=None) -> None:
    global MAX_DURATION_S
    ap = argparse.ArgumentParser(description="Genre + theory Gradio app")
    ap.add_argument("--host", default="0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    ap.add_argument("--model", default=os.environ.get("GENRE_MODEL", DEFAULT_MODEL),
                    help=f"Hub id or local folder of the genre model (default: $GENRE_MODEL or {DEFAULT_MODEL})")
    ap.add_argument("--max-minutes", type=float, default=MAX_DURATION_S / 60,
                    help=f"longest upload accepted (default: $GENRE_MAX_MINUTES or {MAX_DURATION / 60:g})")
    args = ap.parse_args(argv)
    MAX_DURATION_S = args.max_minutes * 60
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = create_app(args.model)
    demo.launch(server_name=args.host, server_port=args.port, footer_links=["api"], show_error=True, **LAUNCH)


if __name__ == "__main__":
    main()
