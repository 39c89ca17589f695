"""Whole-song prediction: windows, timeline, aggregation, JSON, and the CLI."""
import csv
import json

import numpy as np
import pytest
import soundfile as sf

from genre_model.predict import GenrePrediction, GenreClassifier, main
from tests.conftest import SR, tone


@pytest.fixture(scope="module")
def clf(tiny_model_dir):
    return GenreClassifier(tiny_model_dir, precision="fp32")


def _song(seconds, seed=0):
    rng = np.random.default_rng(seed)
    parts = [tone(110 * (k + 1), 30.0, amp=0.3) + 0.02 * k * rng.standard_normal(30 * SR).astype(np.float32)
             for k in range(int(np.ceil(seconds / 30)))]
    return np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)


def test_three_minute_track_timeline(clf):
    pred = clf.predict(_song(180), sr=SR)
    assert pred.duration_s == 180.0 and pred.windows_total == 6
    assert [(w.start, w.end) for w in pred.timeline] == [(30.0 * i, 30.0 * (i + 1)) for i in range(6)]
    # song probabilities are the mean of the window probabilities
    labels = list(pred.probabilities)
    mean = np.mean([[w.probabilities[l] for l in labels] for w in pred.timeline], axis=0)
    assert np.allclose(mean, [pred.probabilities[l] for l in labels], atol=1e-5)
    assert abs(sum(pred.probabilities.values()) - 1) < 1e-4
    assert [t.score for t in pred.top] == sorted((t.score for t in pred.top), reverse=True)
    assert len(pred.top) == 5 and pred.elapsed_s > 0


def test_windows_differ_on_a_changing_song(clf):
    pred = clf.predict(_song(90), sr=SR)
    probs = [tuple(w.probabilities.values()) for w in pred.timeline]
    assert len(set(probs)) == len(probs)  # each window is really encoded on its own audio


def test_batch_size_does_not_change_result(tiny_model_dir):
    y = _song(120)
    a = GenreClassifier(tiny_model_dir, precision="fp32", batch_size=1).predict(y, sr=SR)
    b = GenreClassifier(tiny_model_dir, precision="fp32", batch_size=3).predict(y, sr=SR)
    for l in a.probabilities:
        assert abs(a.probabilities[l] - b.probabilities[l]) < 1e-5


def test_reduced_precisions_agree_with_fp32(tiny_model_dir):
    y = _song(60)
    ref = GenreClassifier(tiny_model_dir, precision="fp32").predict(y, sr=SR)
    for precision in ("bf16",):
        got = GenreClassifier(tiny_model_dir, precision=precision).predict(y, sr=SR)
        assert got.label == ref.label
        assert max(abs(got.probabilities[l] - ref.probabilities[l]) for l in ref.probabilities) < 0.05


def test_json_round_trip(clf):
    pred = clf.predict(_song(40), sr=SR)
    d = json.loads(pred.to_json())
    assert set(d) >= {"top", "probabilities", "timeline", "duration_s", "elapsed_s", "model", "precision"}
    assert d["timeline"][0]["start"] == 0.0 and d["top"][0]["label"] == pred.label
    assert isinstance(pred, GenrePrediction)


def test_cli_reports_bad_files_and_finishes_the_rest(tiny_model_dir, tmp_path, capsys):
    music = tmp_path / "music"
    music.mkdir()
    sf.write(music / "one.wav", _song(35), SR)
    sf.write(music / "two.flac", _song(12, seed=1), SR)
    (music / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    out = tmp_path / "out.json"
    rc = main([str(music), "--model", tiny_model_dir, "--json", str(out), "--batch-size", "2"])
    assert rc == 1
    rows = {r["file"].split("/")[-1]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"one.wav", "two.flac", "broken.wav"}
    assert "undecodable" in rows["broken.wav"]["error"]
    assert rows["one.wav"]["prediction"]["duration_s"] == 35.0
    assert "2 of 3 files classified" in capsys.readouterr().err

    rc = main([str(music / "one.wav"), "--model", tiny_model_dir, "--csv", str(tmp_path / "o.csv")])
    assert rc == 0
    rows = list(csv.DictReader(open(tmp_path / "o.csv")))
    assert rows[0]["status"] == "ok" and rows[0]["label"] and "blues" in rows[0]


def test_cli_missing_model_exits_2(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", _song(5), SR)
    assert main([str(tmp_path / "a.wav"), "--model", "nobody/no-model"]) == 2
    assert "could not fetch" in capsys.readouterr().err


def test_decoded_arrays_are_validated_too(clf):
    from genre_model.audio import AudioError

    with pytest.raises(AudioError) as info:
        clf.predict(np.zeros(3 * SR, dtype=np.float32), sr=SR)
    assert info.value.code == "silent"
    bad = _song(5)
    bad[10] = np.inf
    with pytest.raises(AudioError, match="non-finite"):
        clf.predict(bad, sr=SR)


def test_arrays_need_their_rate_and_are_resampled(clf):
    from genre_model.audio import resample

    y = _song(40)
    with pytest.raises(ValueError, match="sr="):
        clf.predict(y)
    at16 = clf.predict(y, sr=SR)
    at44 = clf.predict(resample(y, SR, 44100), sr=44100)
    assert at44.duration_s == pytest.approx(40.0, abs=0.01) and at44.label == at16.label


def test_near_silent_windows_are_left_out(clf):
    y = np.concatenate([_song(60), np.zeros(60 * SR, np.float32) + 1e-5 * np.float32(1)]).astype(np.float32)
    pred = clf.predict(y, sr=SR)
    assert pred.windows_total == 4 and pred.windows_silent == 2
    assert [w.start for w in pred.timeline] == [0.0, 30.0]
    assert pred.probabilities == clf.predict(y[: 60 * SR], sr=SR).probabilities


def test_short_clip_is_tiled_before_the_encoder(clf):
    from genre_model.features import N_SAMPLES

    y = _song(8)
    got = clf.predict(y, sr=SR)
    tiled = clf.window_probabilities(np.resize(y, N_SAMPLES)[None])[0]
    assert np.allclose(list(got.probabilities.values()), tiled, atol=1e-5)


def test_float16_checkpoint_loads_and_runs(tiny_model_dir, tmp_path):
    from genre_model.model import load_model, save_model

    model, fe = load_model(tiny_model_dir)
    save_model(model.half(), fe, tmp_path / "fp16")
    got = GenreClassifier(str(tmp_path / "fp16"), precision="fp32").predict(_song(31), sr=SR)
    ref = GenreClassifier(tiny_model_dir, precision="fp32").predict(_song(31), sr=SR)
    assert got.label == ref.label
    assert max(abs(got.probabilities[l] - ref.probabilities[l]) for l in ref.probabilities) < 0.02


def test_a_preprocessor_for_another_front_end_is_refused(tiny_model_dir, tmp_path):
    import shutil

    from genre_model.model import ModelLoadError

    folder = tmp_path / "odd"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "preprocessor_config.json").read_text())
    cfg["sampling_rate"] = 22050
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="sampling_rate"):
        GenreClassifier(str(folder))


def test_cli_names_a_missing_model_folder(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", _song(5), SR)
    assert main([str(tmp_path / "a.wav"), "--model", "./my_modle"]) == 2
    err = capsys.readouterr().err
    assert "'./my_modle' does not exist" in err and "Traceback" not in err
