"""Decoding: formats, channel counts, sample rates, PCM types, and every bad input's error."""
import numpy as np
import pytest
import soundfile as sf

from genre_model.audio import SAMPLE_RATE, AudioError, load_audio
from tests.conftest import ffmpeg, peak_frequency, requires_ffmpeg, tone


@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"),
                                         ("mp3", "MPEG_LAYER_III")])
def test_in_process_formats(tmp_path, fmt, subtype):
    path = tmp_path / f"a.{fmt}"
    sf.write(path, tone(440, 3.0, sr=44100), 44100, format=fmt.upper() if fmt != "mp3" else "MP3", subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size / SAMPLE_RATE - 3.0) < 0.1
    assert abs(peak_frequency(y) - 440) < 3


@requires_ffmpeg
@pytest.mark.parametrize("ext,codec", [("m4a", ["-c:a", "aac"]), ("aac", ["-c:a", "aac"]),
                                       ("opus", ["-c:a", "libopus"]), ("webm", ["-c:a", "libopus"])])
def test_ffmpeg_formats(tmp_path, ext, codec):
    sf.write(tmp_path / "src.wav", tone(440, 3.0, sr=48000), 48000)
    ffmpeg("-i", str(tmp_path / "src.wav"), *codec, str(tmp_path / f"a.{ext}"))
    y = load_audio(tmp_path / f"a.{ext}")
    assert abs(y.size / SAMPLE_RATE - 3.0) < 0.15
    assert abs(peak_frequency(y) - 440) < 3


@requires_ffmpeg
def test_video_soundtrack(tmp_path):
    sf.write(tmp_path / "src.wav", tone(330, 2.0), SAMPLE_RATE)
    out = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=2", "-i", str(tmp_path / "src.wav"),
           "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(out))
    y = load_audio(out)
    assert abs(peak_frequency(y) - 330) < 3


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("sr", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_channels_rates_dtypes(tmp_path, channels, sr, dtype):
    mono = tone(440 if sr > 8000 else 300, 2.0, sr=sr)
    multi = np.stack([mono] * channels, axis=1)
    subtype = "PCM_16" if dtype == "int16" else "FLOAT"
    path = tmp_path / "x.wav"
    sf.write(path, multi, sr, subtype=subtype)
    y = load_audio(path)
    assert abs(y.size - 2.0 * SAMPLE_RATE) <= 2
    assert abs(np.abs(y).max() - 0.5) < 0.02  # channels averaged, not summed
    # same through the (sample_rate, array) pair Gradio hands over, int16 as Gradio gives it
    arr = (multi * 32767).astype(np.int16) if dtype == "int16" else multi
    y2 = load_audio((sr, arr))
    assert abs(y2.size - y.size) <= 2
    assert abs(peak_frequency(y2) - peak_frequency(y)) < 2


def test_bytes_input(wav_440):
    y = load_audio(open(wav_440, "rb").read())
    assert abs(peak_frequency(y) - 440) < 3


def _code(source, **kw) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(source, **kw)
    assert str(info.value)  # a message a person can read
    return info.value.code


def test_empty_file(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    assert _code(tmp_path / "e.wav") == "empty"
    assert _code(b"") == "empty"


def test_missing_file(tmp_path):
    assert _code(tmp_path / "nope.wav") == "undecodable"


@requires_ffmpeg
def test_corrupt_file(tmp_path):
    path = tmp_path / "c.mp3"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    assert _code(path) == "undecodable"


def test_text_file_is_not_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("these are my song lyrics, not a song\n" * 20)
    with pytest.raises(AudioError, match="text file, not audio") as info:
        load_audio(tmp_path / "notes.wav")
    assert info.value.code == "not_audio"


@requires_ffmpeg
def test_video_without_audio(tmp_path):
    out = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", "-c:v", "mpeg4", "-an", str(out))
    with pytest.raises(AudioError, match="no audio stream"):
        load_audio(out)


def test_too_short():
    assert _code((SAMPLE_RATE, tone(440, 0.5))) == "too_short"


def test_too_long_is_checked_before_decoding(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(440, 12.0), SAMPLE_RATE)
    with pytest.raises(AudioError, match="limit is") as info:
        load_audio(path, max_duration=10.0)
    assert info.value.code == "too_long"
    assert _code((SAMPLE_RATE, tone(440, 12.0)), max_duration=10.0) == "too_long"


def test_non_finite():
    y = tone(440, 2.0)
    y[100] = np.nan
    assert _code((SAMPLE_RATE, y)) == "non_finite"


def test_digital_silence(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(SAMPLE_RATE * 3, dtype=np.int16), SAMPLE_RATE)
    with pytest.raises(AudioError, match="no genre can be heard") as info:
        load_audio(tmp_path / "s.wav")
    assert info.value.code == "silent"


def test_wrong_types():
    assert _code(12345) == "not_audio"
    assert _code(None) == "empty"
    assert _code((SAMPLE_RATE, np.array(["a", "b"]))) == "not_audio"


def test_many_channels_at_a_high_rate_decode_in_bounded_memory(tmp_path):
    """8 channels at 384 kHz: decoded block by block, mixed down and resampled on the fly, so the
    peak allocation is the mono result plus a block, not the 8-channel file."""
    import tracemalloc

    from genre_model.audio import MAX_KEPT_RATE, decode_audio

    sr, seconds = 384000, 12
    t = np.arange(seconds * sr) / sr
    multi = np.stack([0.2 * np.sin(2 * np.pi * (220 + 50 * c) * t) for c in range(8)], 1).astype(np.float32)
    path = tmp_path / "wide.flac"
    sf.write(path, multi, sr, subtype="PCM_24")
    file_bytes = multi.nbytes
    del multi, t
    tracemalloc.start()
    y, rate = decode_audio(str(path), target_sr=None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rate == MAX_KEPT_RATE and abs(y.size / rate - seconds) < 0.01
    assert peak < 0.25 * file_bytes, f"peak {peak / 1e6:.0f} MB for a {file_bytes / 1e6:.0f} MB decode"
    y16, r16 = decode_audio(str(path))
    assert r16 == 16000 and abs(y16.size - seconds * 16000) <= 16


def test_a_file_longer_than_the_cap_says_so(tmp_path):
    from genre_model.audio import AudioError, decode_audio

    path = tmp_path / "long.ogg"
    sf.write(path, tone(440, 14.0), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"14.0 min|longer than the limit of 0.2 min|0.2 min") as info:
        decode_audio(str(path), max_duration=12.0)
    assert info.value.code == "too_long" and "--max-minutes" in str(info.value)
