"""The batch extractor (genre-theory): JSON Lines and CSV, skip-with-reason, resume, exit codes,
genre from the same decode, and the console script from any folder."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from genre_model.extract import main
from tests.conftest import SR


def _music(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) * (np.sin(2 * np.pi * 2 * t) > 0)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _folder(tmp_path):
    d = tmp_path / "songs"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a.wav", _music(8), SR)
    sf.write(d / "sub" / "b.flac", _music(6, 1), SR)
    (d / "broken.mp3").write_bytes(b"ID3\x03\x00\x00\x00garbage" * 10)
    (d / "notes.txt").write_text("not audio, not searched")
    return d


def test_jsonl_rows_skip_with_reason_and_resume(tmp_path, capsys):
    d = _folder(tmp_path)
    out = tmp_path / "out.jsonl"
    assert main([str(d), "-o", str(out)]) == 1  # one file failed
    rows = {Path(r["file"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"a.wav", "b.flac", "broken.mp3"}
    assert rows["a.wav"]["status"] == "ok" and rows["a.wav"]["theory"]["key"] is not None
    assert rows["broken.mp3"]["status"] == "error" and rows["broken.mp3"]["error_code"] == "undecodable"
    assert "2 of 3 files analysed" in capsys.readouterr().err
    # a killed run: the last row half-written; the restart redoes that file only
    lines = out.read_text().splitlines()
    keep = [l for l in lines if "b.flac" not in l]
    out.write_text("\n".join(keep) + "\n" + '{"file": "' + str(d / "sub" / "b.flac") + '", "stat')
    assert main([str(d), "-o", str(out)]) == 0  # only b.flac was left, and it worked
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert sorted(Path(r["file"]).name for r in rows) == ["a.wav", "b.flac", "broken.mp3"]
    assert "1 of 1 files analysed; 2 already in" in capsys.readouterr().err


def test_csv_with_genre_from_the_same_decode(tmp_path, tiny_model_dir):
    d = _folder(tmp_path)
    out = tmp_path / "out.csv"
    assert main([str(d / "a.wav"), str(d / "sub"), "-o", str(out), "--genre", "--model", tiny_model_dir]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [Path(r["file"]).name for r in rows] == ["a.wav", "b.flac"]
    assert all(r["status"] == "ok" and r["genre"] and float(r["genre_score"]) > 0 for r in rows)
    assert rows[0]["tempo_bpm"] != "" or rows[0]["key"] != ""
    assert all(r["tempo_change"] in ("steady", "speeds up", "slows down", "") for r in rows)
    assert all((r["tempo_change"] == "") == (r["tempo_start_bpm"] == "") for r in rows)


def test_resuming_a_csv_with_other_columns_is_refused(tmp_path, capsys):
    """A CSV written by an older version (no tempo-change columns) is not appended to under
    another header: one clear message, exit 2, the file untouched."""
    sf.write(tmp_path / "a.wav", _music(3), SR)
    out = tmp_path / "old.csv"
    old = "file,status,error_code,error,duration_s,key,tempo_bpm\nx.wav,ok,,,3.0,C major,120\n"
    out.write_text(old)
    assert main([str(tmp_path / "a.wav"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other columns" in err and "--overwrite" in err and "Traceback" not in err
    assert out.read_text() == old


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main([str(tmp_path), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "no audio files" in capsys.readouterr().err
    sf.write(tmp_path / "a.wav", _music(3), SR)
    assert main([str(tmp_path / "a.wav"), "-o", str(tmp_path / "o.jsonl"), "--genre", "--model", "./nope"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_console_scripts_work_from_any_folder(tmp_path):
    bindir = Path(sys.executable).parent
    script = bindir / "genre-theory"
    if not script.exists():
        import pytest

        pytest.skip("the package is not installed (make test runs pip install -e .)")
    sf.write(tmp_path / "a.wav", _music(5), SR)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(script), "a.wav", "-o", "r.jsonl"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["status"] == "ok"
    proc = subprocess.run([str(bindir / "genre-predict"), "a.wav", "--model", "./missing"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
