"""Evaluation: clip-level accuracy, macro-F1, per-class precision/recall, confusion matrix,
and the pictures written beside a model (confusion matrix, training curves).

    python -m training.evaluate MODEL --data DATA [--eval-split test] [--output-dir DIR] [split options]

Windows of one clip are averaged (as :class:`genre_model.predict.GenreClassifier` does) before
the clip is scored.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows = true class, columns = predicted)."""
    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    present = cm.sum(1) > 0
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n_clips": int(cm.sum()),
        "per_class": {l: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                          "f1": round(float(f1[i]), 4), "support": int(cm[i].sum())} for i, l in enumerate(labels)},
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }


def eval_loader(feats_ds, batch_size: int = 32, accelerator=None):
    """An ordered DataLoader over a feature dataset (prepared once when an accelerator is given)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(feats_ds.with_format("torch"), batch_size=batch_size)
    return accelerator.prepare(loader) if accelerator is not None else loader


@torch.no_grad()
def clip_probabilities(model, loader, accelerator=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean window probabilities per clip over an :func:`eval_loader`.
    Returns (clip ids, labels, probabilities (n_clips, k))."""
    device = next(model.parameters()).device
    model.eval()
    probs, labels, clips = [], [], []
    for batch in loader:
        logits = model(batch["input_features"].to(device).float()).logits
        p, l, c = logits.float().softmax(-1), batch["label"].to(device), batch["clip"].to(device)
        if accelerator is not None:
            p, l, c = accelerator.gather_for_metrics((p, l, c))
        probs.append(p.cpu().numpy()); labels.append(l.cpu().numpy()); clips.append(c.cpu().numpy())
    probs, labels, clips = np.concatenate(probs), np.concatenate(labels), np.concatenate(clips)
    ids = np.unique(clips)
    mean = np.stack([probs[clips == i].mean(0) for i in ids])
    lab = np.array([labels[clips == i][0] for i in ids])
    return ids, lab, mean


def evaluate(model, loader, labels: list[str], accelerator=None) -> dict:
    """Clip-level metrics of ``model`` over an :func:`eval_loader`."""
    _, y, p = clip_probabilities(model, loader, accelerator)
    return compute_metrics(y, p.argmax(1), labels)


def confusion_png(metrics: dict, path: str | Path, title: str = "Confusion matrix (test clips)") -> str:
    from genre_model.plots import CMAP, _fig, to_png

    cm = np.array(metrics["confusion_matrix"])
    labels = metrics["labels"]
    k = len(labels)
    fig, ax = _fig(height=0.45 * k + 2, width=0.5 * k + 3)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap=CMAP, vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="black" if norm[i, j] > 0.6 else "white")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {metrics['accuracy']:.3f} · macro-F1 {metrics['macro_f1']:.3f}")
    return to_png(fig, path)


def curves_png(history: list[dict], path: str | Path) -> str:
    from genre_model.plots import ACCENT, INK, SECTION, _fig, to_png

    fig, ax = _fig(height=3.0, width=7)
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["train_loss"] for h in history], marker="o", color=SECTION, label="train loss")
    ax2 = ax.twinx()
    ax2.plot(ep, [h["val_accuracy"] for h in history], marker="o", color=ACCENT, label="val accuracy")
    ax2.plot(ep, [h["val_macro_f1"] for h in history], marker="s", color="#b794f4", label="val macro-F1")
    ax2.set_ylim(0, 1)
    ax2.tick_params(colors="#6b7280")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    lines = ax.get_lines() + ax2.get_lines()
    leg = ax.legend(lines, [l.get_label() for l in lines], loc="upper center", bbox_to_anchor=(0.5, -0.22),
                    ncols=3, frameon=False)
    for t in leg.get_texts():
        t.set_color(INK)
    ax.set_title("Training curves")
    return to_png(fig, path)


def main(argv=None) -> int:
    from genre_model.model import ModelLoadError, load_model

    from .config import TrainConfig, build_parser
    from .data import DataError, featurize, make_splits

    ap = build_parser(TrainConfig, "Evaluate a genre model on a split of a dataset")
    ap.add_argument("model", help="Hub id or folder of the model")
    ap.add_argument("--eval-split", choices=["train", "validation", "test"], default="test")
    args = vars(ap.parse_args(argv))
    model_id, part = args.pop("model"), args.pop("eval_split")
    cfg = TrainConfig(**args)
    try:
        model, _ = load_model(model_id)
        splits = make_splits(cfg)
    except (ModelLoadError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if labels != splits.labels:
        print(f"error: the model's labels {labels} differ from the dataset's {splits.labels}", file=sys.stderr)
        return 2
    out = Path(cfg.output_dir)
    feats = featurize(getattr(splits, part), cfg, splits.names, n_mels=model.config.num_mel_bins, tag=part,
                      cache_dir=cfg.cache_dir or out / "cache")
    metrics = evaluate(model, eval_loader(feats, cfg.eval_batch_size), labels)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{part}_metrics.json").write_text(json.dumps(metrics, indent=2))
    confusion_png(metrics, out / f"confusion_{part}.png", title=f"Confusion matrix ({part})")
    print(json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "n_clips")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
