"""The model card (README.md with Hub metadata) written beside a trained model."""
from __future__ import annotations

from pathlib import Path

import yaml

from .config import TrainConfig


def card_metadata(cfg: TrainConfig, summary: dict, labels: list[str]) -> dict:
    test = summary["test"]
    return {
        "library_name": "transformers",
        "pipeline_tag": "audio-classification",
        "license": "mit",
        "base_model": cfg.base_model,
        "datasets": [cfg.data] if "/" in cfg.data and not Path(cfg.data).exists() else [],
        "tags": list(cfg.tags),
        "metrics": ["accuracy", "f1"],
        "model-index": [{
            "name": "whisper-genre-classifier",
            "results": [{
                "task": {"type": "audio-classification", "name": "Music genre classification"},
                "dataset": {"type": cfg.data, "name": cfg.data, "split": "test (held out, see card)"},
                "metrics": [{"type": "accuracy", "value": round(test["accuracy"], 4)},
                            {"type": "f1", "name": "macro-F1", "value": round(test["macro_f1"], 4)}],
            }],
        }],
    }


def write_model_card(folder: str | Path, cfg: TrainConfig, summary: dict, labels: list[str], *,
                     n_train: int, n_val: int, n_test: int) -> Path:
    folder = Path(folder)
    meta = card_metadata(cfg, summary, labels)
    test = summary["test"]
    split = ("given file lists (" + ", ".join(p for p in (cfg.train_files, cfg.val_files, cfg.test_files) if p) + ")"
             if cfg.train_files else f"stratified random split, seed {cfg.seed}: "
             f"{1 - cfg.val_fraction - cfg.test_fraction:.0%} / {cfg.val_fraction:.0%} / {cfg.test_fraction:.0%}")
    per_class = "\n".join(f"| {l} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
                          for l, v in test["per_class"].items())
    hp = {k: getattr(cfg, k) for k in ("epochs", "batch_size", "gradient_accumulation_steps", "lr_head", "lr_encoder",
                                        "weight_decay", "warmup_ratio", "scheduler", "mixed_precision",
                                        "freeze_encoder_epochs", "unfreeze_top_k", "use_weighted_layer_sum",
                                        "classifier_proj_size", "aug_variants", "spec_augment", "mixup", "seed")}
    repo = cfg.push_to_hub or str(folder)
    body = f"""# Whisper-encoder music genre classifier

Fine-tuned from `{cfg.base_model}` on `{cfg.data}` to classify {len(labels)} genres:
{", ".join(labels)}. It is a `WhisperForAudioClassification` (Whisper encoder, mean-pooled
projection, linear head) that hears 30 seconds at a time; for a whole song, average the
probabilities of consecutive 30-s windows (the `genre_model` package does this).

## Results (measured by this run, held-out test split, {test['n_clips']} clips)

| accuracy | macro-F1 | best epoch | validation {cfg.metric_for_best} |
|---|---|---|---|
| {test['accuracy']:.4f} | {test['macro_f1']:.4f} | {summary['best_epoch']} | {summary['validation_best']:.4f} |

| genre | precision | recall | F1 | clips |
|---|---|---|---|---|
{per_class}

![confusion matrix](confusion_matrix.png)
![training curves](training_curves.png)

## Data and split
- dataset: `{cfg.data}` (split `{cfg.split}`), audio column `{cfg.audio_column}`, labels `{cfg.label_column}`
- {split}; {n_train} train / {n_val} validation / {n_test} test clips (undecodable clips skipped)
- on GTZAN a random split lets one artist's songs land on both sides, which flatters accuracy;
  the artist-filtered split (pass it with `--train-files/--val-files/--test-files`) is the honest one.

## Training hyper-parameters
```
{yaml.safe_dump(hp, sort_keys=False).strip()}
```

## Usage
```python
from transformers import pipeline
clf = pipeline("audio-classification", model="{repo}")
clf("song.mp3", top_k=5)   # scores the first 30 s
```
"""
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body
    path = folder / "README.md"
    path.write_text(text)
    return path
