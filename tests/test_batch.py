"""The library-scale batch job (genre-batch): Parquet rows per track with genre and theory, bad files
recorded with their reason, resume after a kill, a crashing worker, URL/list/dataset inputs, and
the Ray engine on a local 2-CPU cluster giving the local engine's rows."""
import json
import shutil
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_model import batch
from genre_model.batch import COLUMNS, JobConfig, ParquetStore, Track, main, read_rows, run_local
from tests.conftest import SR

ROOT = Path(__file__).resolve().parents[1]


def _clip(seconds, seed):
    """A chord pattern (different root and pulse per seed) with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    root = 196 * 2 ** ((seed % 12) / 12)
    y = sum(0.15 * np.sin(2 * np.pi * root * r * t) for r in (1, 1.26, 1.5))
    y = y * (np.sin(2 * np.pi * (1.5 + seed % 3 / 2) * t) > -0.3)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """About 20 clips: 17 short ones, one of 40 s (two genre windows), a stereo one, digital
    silence, and two broken files."""
    d = tmp_path_factory.mktemp("library")
    (d / "sub").mkdir()
    for i in range(17):
        sf.write(d / ("sub" if i % 3 else "") / f"clip{i:02d}.wav", _clip(3 + i % 5, i), SR)
    sf.write(d / "long.flac", _clip(40, 99), SR)
    sf.write(d / "stereo.wav", np.stack([_clip(4, 5), 0.5 * _clip(4, 6)], axis=1), SR)
    sf.write(d / "silence.wav", np.zeros(3 * SR, np.float32), SR)
    (d / "corrupt.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(range(256)) * 8)
    (d / "empty.ogg").write_bytes(b"")
    return d


@pytest.fixture(scope="module")
def local_run(songs, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "local"
    rc = main([str(songs), "-o", str(out), "--model", tiny_model_dir, "--rows-per-file", "6", "--workers", "2"])
    return rc, out, read_rows(out)


def _by_track(rows):
    return {Path(r["track"]).name: r for r in rows}


def test_local_engine_rows_schema_and_summary(local_run, songs):
    rc, out, rows = local_run
    assert rc == 1  # two files failed
    assert len(rows) == 22 and len({r["track"] for r in rows}) == 22
    by = _by_track(rows)
    assert by["corrupt.mp3"]["status"] == "error" and by["corrupt.mp3"]["error_code"] == "undecodable"
    assert by["empty.ogg"]["error_code"] == "empty" and "empty" in by["empty.ogg"]["error"]
    assert by["corrupt.mp3"]["genre"] is None and by["corrupt.mp3"]["key"] is None
    # digital silence: the theory report describes it, the genre says why there is none
    sil = by["silence.wav"]
    assert sil["status"] == "ok" and sil["genre"] is None and sil["genre_error"].startswith("silent")
    ok = [r for r in rows if r["status"] == "ok" and r["genre"]]
    assert len(ok) == 19
    for r in ok:
        probs = r["genre_probabilities"]
        assert len(probs) == 10 and abs(sum(p["score"] for p in probs) - 1) < 1e-4
        assert r["genre"] == probs[0]["label"] and r["genre_score"] == probs[0]["score"]
        assert json.loads(r["theory_json"])["duration_s"] == r["duration_s"]
        assert r["genre_windows_total"] == len(r["genre_windows"]) + r["genre_windows_silent"]
    assert by["long.flac"]["genre_windows_total"] == 2 and by["long.flac"]["duration_s"] == pytest.approx(40, abs=0.01)
    assert by["long.flac"]["key"] is not None and by["long.flac"]["tempo_bpm"] > 0
    # partitioned Parquet with the documented schema, whole parts only
    import pyarrow.parquet as pq

    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 4 and not list(out.glob("*.tmp"))
    assert pq.read_schema(parts[0]).names == [n for n, _, _ in COLUMNS]
    s = json.loads((out / "_summary.json").read_text())
    assert (s["tracks"], s["ok"], s["failed"]) == (22, 20, 2)
    assert s["failed_by_reason"] == {"empty": 1, "undecodable": 1}
    assert s["this_run"]["tracks_per_minute"] > 0 and s["this_run"]["peak_rss_mib"]["job"] > 0


def test_readme_documents_every_column():
    readme = (ROOT / "README.md").read_text()
    missing = [n for n, _, _ in COLUMNS if f"`{n}`" not in readme]
    assert not missing, missing


def test_rows_match_the_single_file_extractor(local_run, tiny_model_dir, songs):
    """The batch rows (windows of several tracks per forward pass) agree with genre-predict and
    genre-theory run on one file."""
    from genre_model.extract import analyze_file
    from genre_model.predict import GenreClassifier

    clf = GenreClassifier(tiny_model_dir, batch_size=8)
    by = _by_track(local_run[2])
    for name in ("long.flac", "stereo.wav", "sub/clip01.wav"):
        one = analyze_file(str(songs / name), classifier=clf)
        row = by[Path(name).name]
        assert row["key"] == one["theory"]["key"]["label"] and row["tempo_bpm"] == one["theory"]["tempo"]["bpm"]
        assert row["genre"] == one["genre"]["top"][0]["label"]
        assert row["genre_score"] == pytest.approx(one["genre"]["top"][0]["score"], abs=1e-5)


def test_resume_after_lost_parts_gives_the_same_rows(local_run, songs, tiny_model_dir, tmp_path, capsys):
    import shutil

    _, out, rows = local_run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    parts = sorted(again.glob("part-*.parquet"))
    parts[1].unlink()  # the job was killed before it wrote these parts...
    parts[3].rename(parts[3].with_name(parts[3].name + ".tmp"))  # ...and while it wrote this one
    capsys.readouterr()
    assert main([str(songs), "-o", str(again), "--model", tiny_model_dir, "--workers", "2"]) in (0, 1)
    err = capsys.readouterr().err
    assert "already in" in err
    assert read_rows(again) == rows
    s = json.loads((again / "_summary.json").read_text())
    assert s["tracks"] == 22 and s["this_run"]["already_done"] == 22 - s["this_run"]["tracks"]
    # run again: nothing left to do
    assert main([str(songs), "-o", str(again), "--model", tiny_model_dir]) == 0
    assert read_rows(again) == rows


def test_killed_job_restarted_loses_nothing(songs, tmp_path):
    """SIGKILL the whole job (workers too) once it has written a part; the same command finishes it."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "genre_model.batch", str(songs), "-o", str(out), "--no-genre", "--rows-per-file", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {r["track"] for r in read_rows(out)}
    assert 0 < len(first) <= 22
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 1
    rows = read_rows(out)
    assert len(rows) == 22 and len({r["track"] for r in rows}) == 22
    assert {r["track"] for r in rows} >= first


def _crashy_task(track, max_duration, genre):
    """A worker task that dies (as a segfaulting decoder would) on one track."""
    if "clip03" in track.id:
        os._exit(3)
    return batch.theory_stage(track, max_duration, genre)


def test_a_track_that_kills_its_worker_is_recorded_and_the_rest_done(songs, tmp_path):
    tracks = list(batch.iter_paths([str(songs / "sub"), str(songs / "clip03.wav")]))
    store = ParquetStore(tmp_path / "crash", rows_per_file=100)
    run_local(tracks, store, JobConfig(genre=False), workers=2, task=_crashy_task)
    store.flush()
    rows = _by_track(read_rows(tmp_path / "crash"))
    assert len(rows) == len(tracks)
    assert rows["clip03.wav"]["error_code"] == "worker_crashed"
    assert all(r["status"] == "ok" for n, r in rows.items() if n != "clip03.wav")


def test_list_file_urls_and_remote_sources(songs, tmp_path):
    lst = tmp_path / "tracks.txt"
    lst.write_text(f"# my picks\n{songs / 'long.flac'}\n\nfile://{songs / 'sub'}\n")
    out = tmp_path / "listed"
    assert main(["--list", str(lst), "-o", str(out), "--no-genre", "--workers", "1"]) == 0
    rows = read_rows(out)
    assert len(rows) == 1 + 11 and all(r["status"] == "ok" for r in rows)
    # a remote URL is read through fsspec (the in-memory filesystem stands in for s3:// or https://)
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/lib/a.wav", "wb") as fh:
        fh.write((songs / "stereo.wav").read_bytes())
    (url,) = batch._expand_url("memory://lib/")  # a folder URL lists its audio files
    assert url.startswith("memory://") and url.endswith("/lib/a.wav")
    row, y16 = batch.theory_stage(Track(url, url))
    assert row["status"] == "ok" and row["duration_s"] == pytest.approx(4, abs=0.01) and y16.size == 4 * 16000
    row, _ = batch.theory_stage(Track("memory://lib/missing.wav", "memory://lib/missing.wav"))
    assert row["error_code"] == "unreadable" and "missing.wav" in row["error"]


def test_datasets_audio_column(songs, tmp_path):
    import datasets

    files = [str(songs / "long.flac"), str(songs / "stereo.wav"), str(songs / "corrupt.mp3")]
    ds = datasets.Dataset.from_dict({"audio": files, "title": ["a", "b", "c"]})
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    folder = tmp_path / "ds"
    ds.save_to_disk(str(folder))
    out = tmp_path / "from_ds"
    assert main(["--dataset", str(folder), "-o", str(out), "--no-genre", "--workers", "1"]) == 1
    rows = read_rows(out)
    assert [r["track"] for r in rows] == [f"{folder}:train:{i}" for i in range(3)]
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert rows[0]["duration_s"] == pytest.approx(40, abs=0.01)


def test_usage_errors_are_one_message(tmp_path, capsys, songs):
    assert main([str(songs), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "no-such-model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no-such-model" in err and "Traceback" not in err
    # a Hub dataset that cannot be read (offline here; missing where there is a network): one message
    assert main(["--dataset", "no-one-here/no-such-dataset", "-o", str(tmp_path / "o4"), "--no-genre"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no-such-dataset" in err and "Traceback" not in err
    assert main([str(tmp_path / "nothing-here"), "-o", str(tmp_path / "o2"), "--no-genre"]) == 1
    with pytest.raises(SystemExit):
        main(["-o", str(tmp_path / "o3")])


def test_ray_engine_gives_the_local_rows(local_run, songs, tiny_model_dir, tmp_path):
    """A local Ray cluster of 2 CPUs: Ray Data tasks for decode + theory, a genre actor, the same
    Parquet rows as the local engine."""
    pytest.importorskip("ray")
    import ray

    out = tmp_path / "ray"
    try:
        rc = main([str(songs), "-o", str(out), "--model", tiny_model_dir, "--engine", "ray", "--ray-cpus", "2",
                   "--rows-per-file", "6"])
    finally:
        ray.shutdown()
    assert rc == 1
    local, rows = local_run[2], read_rows(out)
    assert [r["track"] for r in rows] == [r["track"] for r in local]
    for a, b in zip(rows, local):
        for k, _, _ in COLUMNS:
            if k in ("genre_score", "genre_probabilities", "genre_windows"):
                assert json.dumps(a[k]) == json.dumps(b[k]) or _close(a[k], b[k]), (a["track"], k)
            else:
                assert a[k] == b[k], (a["track"], k)
    assert json.loads((out / "_summary.json").read_text())["this_run"]["engine"] == "ray"


def _close(a, b, tol=1e-5):
    """Genre numbers computed in other batches may differ in the last float bits."""
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, float):
        return abs(a - b) <= tol
    return a == b


def _late_file_job(songs, tmp_path, *others):
    """A job over long.flac, late.wav (missing: a network share that was down) and ``others``;
    after its first run late.wav is put back. Returns (args, out, late)."""
    late = tmp_path / "late.wav"
    lst = tmp_path / "tracks.txt"
    lst.write_text("".join(f"{f}\n" for f in (songs / "long.flac", late, *others)))
    out = tmp_path / "out"
    args = ["--list", str(lst), "-o", str(out), "--no-genre", "--workers", "1"]
    assert main(args) == 1
    late_row = _by_track(read_rows(out))["late.wav"]
    assert late_row["error_code"] == "undecodable" and "does not exist" in late_row["error"]
    shutil.copy(songs / "stereo.wav", late)
    return args, out, late


def _part_track_names(out):
    import pyarrow.parquet as pq

    return sorted(Path(t).name for f in sorted(out.glob("part-*.parquet"))
                  for t in pq.read_table(f).column("track").to_pylist())


def test_retry_errors_replaces_the_failed_rows(songs, tmp_path):
    """The missing file is retried with --retry-errors once it is back; its old row is dropped,
    so each track keeps one row."""
    args, out, _ = _late_file_job(songs, tmp_path, songs / "corrupt.mp3")
    first = _by_track(read_rows(out))
    assert main(args) == 0  # without --retry-errors the failed rows count as done
    assert main(args + ["--retry-errors", "undecodable"]) == 1  # corrupt.mp3 fails again
    assert _part_track_names(out) == sorted(first)  # one row per track: stale ones dropped
    rows = _by_track(read_rows(out))
    assert rows["late.wav"]["status"] == "ok" and rows["long.flac"] == first["long.flac"]
    assert rows["corrupt.mp3"]["error_code"] == "undecodable"
    s = json.loads((out / "_summary.json").read_text())
    assert (s["tracks"], s["ok"], s["failed"]) == (3, 2, 1)


def test_a_retry_cut_short_before_compaction_keeps_the_newest_row(songs, tmp_path):
    """A retry killed after writing its new row but before dropping the old one leaves two rows;
    the next retry keeps the newer one and drops only the stale one."""
    args, out, late = _late_file_job(songs, tmp_path)
    row, _ = batch.theory_stage(Track(str(late), str(late)), genre=False)
    store = ParquetStore(out)  # what the killed retry had written: the new row, no compaction
    store.write(row)
    store.flush()
    assert main(args + ["--retry-errors", "undecodable"]) == 0
    assert _part_track_names(out) == ["late.wav", "long.flac"]
    assert _by_track(read_rows(out))["late.wav"]["status"] == "ok"
