"""The leave-one-source-out fits' files hold only for the analyser code they were fitted on."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402


def test_a_fit_on_other_analyser_code_is_not_read(tmp_path, monkeypatch, capsys):
    path = tmp_path / "octave-loso.json"
    assert common.read_fit(path) is None  # none yet
    common.write_fit(path, {"scores": {"salience": 1.0}})
    assert common.read_fit(path) == {"scores": {"salience": 1.0}}
    monkeypatch.setattr(common, "analyser_version", lambda: "another version")
    assert common.read_fit(path) is None
    assert "fit_octave.py" in capsys.readouterr().err
    path.write_text('{"scores": {"salience": 1.0}}')  # a file from before versions were written
    assert common.read_fit(path) is None


def test_the_analyser_version_follows_its_code(tmp_path, monkeypatch):
    (tmp_path / "theory").mkdir()
    (tmp_path / "theory" / "tempo.py").write_text("W = 1\n")
    (tmp_path / "audio.py").write_text("")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    monkeypatch.setattr(common, "ANALYSER_CODE", (tmp_path / "theory", tmp_path / "audio.py"))
    before = common.analyser_version()
    assert common.analyser_version() == before
    (tmp_path / "theory" / "tempo.py").write_text("W = 2\n")
    assert common.analyser_version() != before
