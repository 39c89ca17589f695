"""Data: load a labelled audio dataset, split it, and cache Whisper log-mel features once.

Sources: a Hub dataset id (default ``sanchit-gandhi/gtzan``), a local ``audiofolder`` folder
(one sub-folder per label), or a ``save_to_disk`` folder. Audio is read with
``Audio(decode=False)`` and decoded by :mod:`genre_model.audio` (any format, resampled to
16 kHz); a clip that cannot be decoded is skipped with a warning naming it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_model.audio import AUDIO_EXTS, AudioError, load_audio
from genre_model.features import N_FRAMES, log_mel, plan_windows, stack_windows

from .augment import waveform_variant
from .config import TrainConfig

log = logging.getLogger("training")


class DataError(RuntimeError):
    """The dataset could not be found, read or split; the message says why."""


@dataclass
class Splits:
    train: object  # datasets.Dataset of the source rows
    validation: object
    test: object
    labels: list[str]
    names: list[str]  # clip name per source row


def load_source(cfg: TrainConfig):
    """The source rows with the audio column left undecoded. Returns (dataset, labels, label column)."""
    import datasets
    from datasets import Audio

    path = Path(cfg.data).expanduser()
    try:
        if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[cfg.split]
        elif path.is_dir():
            ds = datasets.load_dataset("audiofolder", data_dir=str(path), split=cfg.split)
        else:
            from genre_model.model import hub_answer, looks_like_path

            if looks_like_path(cfg.data):
                raise DataError(f"the dataset folder '{cfg.data}' does not exist")
            answer = "ok" if os.environ.get("HF_DATASETS_OFFLINE") else hub_answer(cfg.data, repo_type="dataset")
            if answer == "missing":
                raise DataError(f"there is no dataset '{cfg.data}' on the Hugging Face Hub (or no access to it)")
            if answer == "unreachable":
                raise DataError(f"the dataset '{cfg.data}' is not a local folder and the Hugging Face Hub "
                                "is unreachable; download it where there is a network "
                                f"(`hf download {cfg.data} --repo-type dataset --local-dir DIR`) and pass --data DIR")
            ds = datasets.load_dataset(cfg.data, split=cfg.split)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"could not load the dataset '{cfg.data}': {type(e).__name__}: {e}") from e
    label_col = cfg.label_column
    if label_col is None:  # not given: GTZAN's "genre", else an audiofolder's "label"
        label_col = next((c for c in ("genre", "label") if c in ds.column_names), "genre")
        log.info("labels from the %r column", label_col)
    for col in (cfg.audio_column, label_col):
        if col not in ds.column_names:
            raise DataError(f"the dataset has no column {col!r} (columns: {ds.column_names}); "
                            "pick them with --audio-column / --label-column")
    ds = ds.cast_column(cfg.audio_column, Audio(decode=False))
    feat = ds.features[label_col]
    if hasattr(feat, "names"):
        labels = list(feat.names)
    else:
        labels = sorted({str(v) for v in ds[label_col]})
        ds = ds.map(lambda r: {label_col: labels.index(str(r[label_col]))})
    return ds, labels, label_col


def clip_names(ds, cfg: TrainConfig) -> list[str]:
    if "file" in ds.column_names:
        return [os.path.basename(str(f)) for f in ds["file"]]
    return [os.path.basename(str(a.get("path") or i)) for i, a in enumerate(ds[cfg.audio_column])]


def clip_stem(name: str) -> str:
    """How file lists and clips are matched: the file name without folders and audio extension
    (``genres/jazz/jazz.00054.wav`` -> ``jazz.00054``; ``jazz.00054`` stays as it is)."""
    base = Path(os.path.basename(str(name).strip()))
    return base.stem if base.suffix.lower() in AUDIO_EXTS else base.name


def _read_list(path: str | None) -> list[str] | None:
    if not path:
        return None
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise DataError(f"cannot read the file list {path}: {e}") from None
    return [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")]


def split_by_lists(names: list[str], lists: list[list[str]], parts=("train", "validation", "test")) -> list[np.ndarray]:
    """Index arrays of the clips each file list names, matched by stem. A listed clip that the
    dataset lacks is warned about; a clip listed in several splits is warned about and kept only
    in the last of them (test before validation before train, so nothing leaks into test)."""
    stems = [clip_stem(n) for n in names]
    where: dict[str, list[int]] = {}
    for i, st in enumerate(stems):
        where.setdefault(st, []).append(i)
    owner: dict[str, str] = {}
    for part, listed in zip(parts, lists):
        listed = [clip_stem(x) for x in listed]
        missing = [st for st in listed if st not in where]
        if missing:
            log.warning("%d clip(s) of the %s list are not in the dataset (e.g. %s)", len(missing), part,
                        ", ".join(missing[:5]))
        for st in listed:
            if st in owner and owner[st] != part:
                log.warning("clip %s is listed for both %s and %s; it is kept in %s only", st, owner[st], part, part)
            owner[st] = part
    return [np.array(sorted(i for st, p in owner.items() if p == part for i in where.get(st, [])), dtype=int)
            for part in parts]


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    """Index arrays (train, validation, test), each class split in the same proportions."""
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_te = int(round(test_fraction * idx.size))
        n_va = int(round(val_fraction * idx.size))
        te += list(idx[:n_te])
        va += list(idx[n_te:n_te + n_va])
        tr += list(idx[n_te + n_va:])
    return np.sort(tr), np.sort(va), np.sort(te)


def make_splits(cfg: TrainConfig) -> Splits:
    ds, labels, label_col = load_source(cfg)
    if label_col != "label":  # the requested column becomes "label" (another "label" column is dropped)
        if "label" in ds.column_names:
            ds = ds.remove_columns("label")
        ds = ds.rename_column(label_col, "label")
    names = clip_names(ds, cfg)
    lists = [_read_list(p) for p in (cfg.train_files, cfg.val_files, cfg.test_files)]
    if any(l is not None for l in lists):
        if any(l is None for l in lists):
            raise DataError("give all three of --train-files, --val-files and --test-files")
        idx = split_by_lists(names, lists)
    else:
        idx = stratified_split(np.array(ds["label"]), cfg.val_fraction, cfg.test_fraction, cfg.seed)
    for part, i in zip(("train", "validation", "test"), idx):
        if len(i) == 0:
            raise DataError(f"the {part} split is empty")
    ds = ds.add_column("clip", list(range(len(ds)))) if "clip" not in ds.column_names else ds
    return Splits(*(ds.select(i) for i in idx), labels, names)


def featurize(ds, cfg: TrainConfig, names: list[str], *, n_mels: int, variants: int = 0, tag: str,
              cache_dir: str | Path):
    """Log-mel features for every 30-s window of every clip (and ``variants`` augmented copies),
    computed once and cached as an arrow file. Rows: input_features (n_mels, 3000) float16,
    label, clip. Undecodable clips are skipped with a warning naming them."""
    from datasets import Array2D, Features, Value

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = json.dumps([ds._fingerprint, n_mels, variants, cfg.max_windows_per_clip, cfg.seed, tag, 2])
    cache_file = cache_dir / f"{tag}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.arrow"
    audio_col = cfg.audio_column

    parent = os.getpid()

    def fn(batch):
        if os.getpid() != parent:  # a forked --num-proc worker: torch's thread pool, inherited from the
            import torch           # parent, deadlocks in a fork; one thread per worker avoids it
            torch.set_num_threads(1)
        out = {"input_features": [], "label": [], "clip": []}
        for audio, label, clip in zip(batch[audio_col], batch["label"], batch["clip"]):
            name = names[clip]
            try:
                y = load_audio(audio["bytes"] if audio.get("bytes") else audio["path"])
            except (AudioError, OSError, TypeError) as e:
                log.warning("skipping clip %s: %s", name, e)
                continue
            ys = [y] + [waveform_variant(y, 16000, seed=cfg.seed * 100_003 + clip * 101 + v) for v in range(variants)]
            for yy in ys:
                windows = plan_windows(yy.size, max_windows=cfg.max_windows_per_clip)
                feats = log_mel(stack_windows(yy, windows), n_mels).numpy().astype(np.float16)
                for f in feats:
                    out["input_features"].append(f)
                    out["label"].append(int(label))
                    out["clip"].append(int(clip))
        return out

    features = Features({"input_features": Array2D((n_mels, N_FRAMES), "float16"), "label": Value("int64"),
                         "clip": Value("int64")})
    return ds.map(fn, batched=True, batch_size=8, remove_columns=ds.column_names, features=features,
                  cache_file_name=str(cache_file), load_from_cache_file=True, desc=f"features ({tag})",
                  num_proc=cfg.num_proc if cfg.num_proc > 1 and len(ds) > 1 else None)
