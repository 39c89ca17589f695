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


def _launch(model):
    demo = app.create_app(model)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=app.MAX_FILE_SIZE, css=app.CSS)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    demo, url = _launch(tiny_model_dir)
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
        with pytest.raises(Exception, match="No genre"):
            c.predict(handle_file(song), api_name="/genre")
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
        page.locator("input[type=file]").first.set_input_files(song)
        page.get_by_role("button", name="Analyze").click()
        page.locator(".dash .card").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        cards = page.locator(".dash .card-title").all_inner_texts()
        assert [c.strip().lower() for c in cards[:3]] == ["key", "tempo", "meter"]
        body = page.inner_text("body")
        assert "Genre (whole song)" in body and "%" in body  # the label shows confidences
        assert page.locator("img").count() >= 2  # the spectrogram and chroma pictures
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        browser.close()
    assert (tmp_path / "app.png").stat().st_size > 10_000
