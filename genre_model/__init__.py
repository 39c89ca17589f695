"""genre_model: whole-song music genre from a fine-tuned Whisper encoder, plus a measured
music-theory report. Importable without gradio or the training code.

    from genre_model import GenreClassifier, load_audio
    clf = GenreClassifier("path/or/hub-id")
    clf.predict("song.mp3").top

Names are imported lazily, so ``genre_model.audio`` and ``genre_model.theory`` do not pay for
torch and transformers.
"""
import importlib

_EXPORTS = {
    "SAMPLE_RATE": "audio", "AudioError": "audio", "load_audio": "audio",
    "GTZAN_GENRES": "model", "ModelLoadError": "model", "load_model": "model",
    "GenreClassifier": "predict", "GenrePrediction": "predict",
    "analyze": "theory", "TheoryReport": "theory",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'genre_model' has no attribute {name!r}")
