"""The Space: in-process launch, gradio_client on every endpoint, bad uploads, no model, and a
real browser (Debian's chromium through Playwright)."""
import shutil
import socket

import numpy as np
import pytest
import soundfile as sf

import app
from tests.conftest import SR, tone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(model, delete_cache=None):
    """An app on a free port. Only the module's main server cleans gradio's cache: closing an app
    with delete_cache set deletes the cached files (examples too) that apps in one process share."""
    demo = app.create_app(model, delete_cache=delete_cache)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.LAUNCH)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    demo, url = _launch(tiny_model_dir, delete_cache=app.CACHE_CLEANUP)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> str:
    """40 s: two windows, a pulse (clicks on a bass tone) and some harmony."""
    t = np.arange(40 * SR) / SR
    y = 0.2 * tone(110, 40) + 0.15 * tone(165, 40) + 0.1 * tone(220, 40) + 0.1 * tone(277, 40)
    y *= 0.6 + 0.4 * (np.mod(t, 0.5) < 0.1)
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, y.astype(np.float32), SR)
    return str(path)


def test_endpoints_are_documented(client):
    assert {"/analyze", "/genre", "/theory"} <= set(client.view_api(return_format="dict")["named_endpoints"])


def test_analyze_returns_documented_keys(client, song):
    from gradio_client import handle_file

    r = client.predict(handle_file(song), api_name="/analyze")
    assert set(r) >= {"genre", "genre_error", "summary", "theory", "duration_s", "elapsed_s"}
    assert r["genre"]["label"] in r["genre"]["probabilities"] and len(r["genre"]["top"]) == 5
    assert [w["start"] for w in r["genre"]["timeline"]] == [0.0, 10.0]  # 40 s: 0-30 and 10-40
    assert set(r["theory"]) >= {"key", "tempo", "meter", "chords", "structure", "timbre", "dynamics", "quality", "mood"}
    assert r["duration_s"] == 40.0


def test_genre_and_theory_endpoints(client, song):
    from gradio_client import handle_file

    g = client.predict(handle_file(song), api_name="/genre")
    assert set(g) >= {"genre", "genre_error", "duration_s"} and g["genre"]["top"]
    t = client.predict(handle_file(song), api_name="/theory")
    assert set(t) >= {"summary", "theory"} and "Key" in t["summary"]


def test_corrupt_upload_is_explained_and_the_app_keeps_working(client, song, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00\x01 not really an mp3 " * 200)
    with pytest.raises(Exception, match="could not be decoded"):
        client.predict(handle_file(str(bad)), api_name="/analyze")
    text = tmp_path / "lyrics.wav"
    text.write_text("la la la\n" * 50)
    with pytest.raises(Exception, match="not audio"):
        client.predict(handle_file(str(text)), api_name="/theory")
    assert client.predict(handle_file(song), api_name="/theory")["summary"]


def test_too_long_upload_is_refused(client, tmp_path, monkeypatch):
    from gradio_client import handle_file

    monkeypatch.setattr(app, "MAX_DURATION_S", 5.0)
    path = tmp_path / "long.wav"
    sf.write(path, tone(220, 8.0), SR)
    with pytest.raises(Exception, match="limit is"):
        client.predict(handle_file(str(path)), api_name="/theory")


def test_silence_has_theory_but_no_genre(client, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(3 * SR, dtype=np.float32), SR)
    r = client.predict(handle_file(str(path)), api_name="/analyze")
    assert r["genre"] is None and "silence" in r["genre_error"]
    assert r["theory"]["key"]["label"] is None


def test_without_a_model_theory_still_works(song):
    from gradio_client import Client, handle_file

    demo, url = _launch("nobody/no-such-model")
    try:
        c = Client(url, verbose=False)
        r = c.predict(handle_file(song), api_name="/analyze")
        assert r["genre"] is None and "nobody/no-such-model" in r["genre_error"] and "GENRE_MODEL" in r["genre_error"]
        assert r["theory"]["tempo"] is not None and r["summary"]
        g = c.predict(handle_file(song), api_name="/genre")  # the documented dict, not an exception
        assert g["genre"] is None and "nobody/no-such-model" in g["genre_error"]
    finally:
        demo.close()


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_real_browser_upload_and_results(server, song, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(server, wait_until="networkidle")
        page.locator("input[type=file]").first.set_input_files(app.EXAMPLES[0] if app.EXAMPLES else song)
        page.get_by_role("button", name="Analyze").click()
        page.locator(".dash .card").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        chroma = page.locator("#chroma-plot img")
        chroma.first.screenshot(path=str(tmp_path / "chroma.png"))
        cards = page.locator(".dash .card-title").all_inner_texts()
        assert [c.strip().lower() for c in cards[:3]] == ["key", "tempo", "meter"]
        body = page.inner_text("body")
        assert "Genre (whole song)" in body and "%" in body  # the label shows confidences
        assert page.locator("img").count() >= 2  # the spectrogram and chroma pictures
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        if len(app.EXAMPLES) > 1:  # an example runs on click (cached lazily) and replaces the results
            before = page.inner_text(".dash")
            page.get_by_text(app.Path(app.EXAMPLES[-1]).name).first.click()
            page.wait_for_function("b => document.querySelector('.dash') && document.querySelector('.dash').innerText !== b",
                                   arg=before, timeout=120_000)
        browser.close()
    assert (tmp_path / "app.png").stat().st_size > 10_000
    assert _lane_has_text(tmp_path / "chroma.png"), "no chord names drawn in the chroma picture's chord lane"


def _lane_has_text(png) -> bool:
    """Chord names are dark text on the pastel boxes of the lane above the chromagram: look for
    near-black pixels inside pastel-coloured rows at the top of the picture."""
    from matplotlib.image import imread

    img = imread(str(png))[..., :3]
    h = img.shape[0]
    top = img[: int(0.3 * h)]
    pastel = (top.min(axis=2) > 0.75) & (top.max(axis=2) - top.min(axis=2) > 0.08)
    rows = np.flatnonzero(pastel.mean(axis=1) > 0.2)
    if rows.size == 0:
        return False
    lane = top[rows]
    return bool(((lane.max(axis=2) < 0.35).sum()) > 40)


def test_mcp_tools_are_listed(server):
    """The endpoints are also MCP tools (launch(mcp_server=True)), with their descriptions."""
    import httpx

    schema = httpx.get(server + "gradio_api/mcp/schema", timeout=30).json()
    tools = {t["name"]: t for t in (schema if isinstance(schema, list) else schema.get("tools", []))}
    names = " ".join(tools)
    for endpoint in ("analyze", "genre", "theory"):
        assert endpoint in names, names
    assert any("theory" in (t.get("description") or "").lower() for t in tools.values())


def test_routine_errors_are_one_log_line(client, tmp_path, capfd, caplog):
    from gradio_client import handle_file

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00 nonsense" * 100)
    with caplog.at_level("INFO", logger="app"):
        with pytest.raises(Exception, match="could not be decoded"):
            client.predict(handle_file(str(bad)), api_name="/theory")
    out = capfd.readouterr()
    assert "Traceback" not in out.out + out.err
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


README_SNIPPET_START = "from gradio_client import Client, handle_file"


def _readme_client_snippet() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("```python\n" + README_SNIPPET_START, 1)[1].split("```", 1)[0]
    return README_SNIPPET_START + block


@pytest.mark.parametrize("with_model", [True, False])
def test_readme_client_snippet_runs_as_written(with_model, server, song, tiny_model_dir, tmp_path, capsys):
    """The README's gradio_client snippet, executed against a live app with and without a model."""
    import shutil as sh

    code = _readme_client_snippet()
    sh.copy(song, tmp_path / "song.mp3")  # the snippet's file name (the decoder goes by content)
    demo = None
    url = server
    if not with_model:
        demo, url = _launch("nobody/no-such-model")
    try:
        code = code.replace('"http://127.0.0.1:7860/"', repr(url))
        import os

        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            exec(compile(code, "README.md", "exec"), {})
        finally:
            os.chdir(cwd)
    finally:
        if demo is not None:
            demo.close()
    printed = capsys.readouterr().out
    assert ("no genre:" in printed) != with_model


def test_the_genre_comes_before_the_report(tiny_model_dir, song):
    """The page's generator: a first result with the genre and no report yet, then the whole."""
    from genre_model.audio import decode_audio

    engine = app.Engine(tiny_model_dir).load()
    y, sr = decode_audio(song, target_sr=None)
    steps = list(engine.stream(y, sr, genre=True, theory=True, pictures=True))
    assert len(steps) == 2
    first, last = steps
    assert last.report is not None and {"mel", "chroma"} <= set(last.figures)
    assert first.prediction is not None
