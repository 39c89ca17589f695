"""Training configuration: one dataclass, and a command line generated from it."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    # data
    data: str = "sanchit-gandhi/gtzan"  # Hub dataset id, audiofolder folder, or save_to_disk folder
    audio_column: str = "audio"
    label_column: str | None = None  # None: "genre" if the dataset has it, else "label"
    split: str = "train"  # split of the source to draw train/validation/test from
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    train_files: str | None = None  # text files, one clip per line, matched by file stem (e.g. the artist-filtered GTZAN split)
    val_files: str | None = None
    test_files: str | None = None
    cache_dir: str | None = None  # where feature caches go (default: beside the output)
    max_windows_per_clip: int = 4  # 30-s windows per training clip (GTZAN clips are one window)
    num_proc: int = 1  # processes that decode and featurise the clips (datasets.map num_proc)
    # augmentation
    aug_variants: int = 0  # cached waveform variants per training clip (time-stretch, pitch-shift, noise)
    spec_augment: bool = True
    mixup: float = 0.0  # Beta(alpha, alpha) mixup of features and labels; 0 = off
    # model
    base_model: str = "openai/whisper-tiny"  # Hub id / folder, or an openai-whisper name or .pt path
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    dropout: float = 0.0
    freeze_encoder_epochs: int = 1  # epochs with the encoder frozen (head only) ...
    unfreeze_top_k: int = 2  # ... then this many top encoder blocks train (99 = all)
    # optimisation
    epochs: int = 10
    batch_size: int = 16
    eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    lr_head: float = 1e-3
    lr_encoder: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"  # cosine | linear | constant
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate)
    early_stopping_patience: int = 3
    metric_for_best: str = "macro_f1"  # or "accuracy"
    seed: int = 42
    num_workers: int = 0
    # run
    output_dir: str = "outputs/whisper-gtzan"
    resume: bool = False
    keep_checkpoints: int = 2  # newest epoch checkpoints kept (0 = all)
    stop_after_epochs: int | None = None  # end this run after N epochs (job time limits); --resume continues
    report_to: str = "none"  # none | tensorboard | wandb | all
    push_to_hub: str | None = None  # REPO_ID
    hub_private: bool = False
    tags: list[str] = field(default_factory=lambda: ["audio-classification", "music", "genre", "whisper"])


def build_parser(cls=TrainConfig, description: str = "") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    for f in dataclasses.fields(cls):
        name = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.type in ("bool", bool):
            ap.add_argument(name, action=argparse.BooleanOptionalAction, default=default)
        elif "list" in str(f.type):
            ap.add_argument(name, nargs="*", default=default)
        else:
            kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
            ap.add_argument(name, type=kind, default=default)
    return ap


def parse_config(argv=None) -> TrainConfig:
    args = build_parser(description="Fine-tune a Whisper-encoder genre classifier").parse_args(argv)
    return TrainConfig(**vars(args))
