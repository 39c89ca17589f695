"""Fine-tune the Whisper-encoder genre classifier with accelerate.

    python -m training --data sanchit-gandhi/gtzan --base-model openai/whisper-tiny --output-dir out
    accelerate launch -m training --mixed-precision bf16 ...   (multi-GPU / multi-node unchanged)

One loop (Accelerator, prepare, accumulate, gather_for_metrics, save_state/load_state): features
are cached once (training.data), SpecAugment and mixup happen on the fly, the encoder can stay
frozen for the first epochs and then train its top k blocks, the head and the encoder have their
own learning rates, warmup then cosine decay, early stopping on the validation metric, a
checkpoint every epoch that ``--resume`` continues exactly. The best epoch's weights are scored
once on the test split and saved with plots and a model card; ``--push-to-hub`` uploads them.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from genre_model.model import build_from_openai_whisper, build_model, freeze_encoder, save_model, unfreeze_top_blocks

from .augment import mixup, spec_augment
from .config import TrainConfig, parse_config
from .data import featurize, make_splits
from .evaluate import confusion_png, curves_png, eval_loader, evaluate

log = logging.getLogger("training")


class EpochSampler(torch.utils.data.Sampler):
    """A shuffle that depends only on (seed, epoch), so a resumed run sees the same order.

    The epoch is set by the loop with :meth:`use_epoch` (not ``set_epoch``, which accelerate's
    prepared loader calls with its own per-process iteration count that restarts at 0 on resume)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def use_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng(self.seed * 1000 + self.epoch).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def is_openai_checkpoint(name: str) -> bool:
    import whisper

    return name.endswith(".pt") or name in whisper.available_models()


def build(cfg: TrainConfig, labels: list[str]):
    kw = dict(use_weighted_layer_sum=cfg.use_weighted_layer_sum, classifier_proj_size=cfg.classifier_proj_size,
              dropout=cfg.dropout)
    if is_openai_checkpoint(cfg.base_model):
        return build_from_openai_whisper(cfg.base_model, labels, **kw)
    return build_model(cfg.base_model, labels, **kw)


def set_trainable(model, cfg: TrainConfig, epoch: int) -> None:
    """The parameter set for this epoch: encoder frozen for ``freeze_encoder_epochs``, then the
    top ``unfreeze_top_k`` blocks (the head always trains)."""
    for p in model.parameters():
        p.requires_grad_(True)
    if cfg.freeze_encoder_epochs > 0 or cfg.unfreeze_top_k < len(model.encoder.layers):
        freeze_encoder(model)
        if epoch >= cfg.freeze_encoder_epochs:
            unfreeze_top_blocks(model, cfg.unfreeze_top_k)
    model.encoder.embed_positions.requires_grad_(False)


def latest_checkpoint(folder: Path) -> Path | None:
    cks = sorted(folder.glob("epoch_*"), key=lambda p: int(p.name.split("_")[1]))
    return cks[-1] if cks else None


def train(cfg: TrainConfig) -> dict:
    """Run training. Returns a summary dict (``stopped_early``, ``test`` metrics, paths...)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from transformers import get_scheduler

    out = Path(cfg.output_dir)
    ckpt_dir = out / "checkpoints"
    acc = Accelerator(mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.gradient_accumulation_steps,
                      log_with=None if cfg.report_to == "none" else cfg.report_to, project_dir=str(out))
    set_seed(cfg.seed)
    splits = make_splits(cfg)
    labels = splits.labels
    model, fe = build(cfg, labels)
    n_mels = model.config.num_mel_bins
    cache = cfg.cache_dir or out / "cache"
    with acc.main_process_first():
        t0 = time.perf_counter()
        train_f = featurize(splits.train, cfg, splits.names, n_mels=n_mels, variants=cfg.aug_variants, tag="train", cache_dir=cache)
        val_f = featurize(splits.validation, cfg, splits.names, n_mels=n_mels, tag="validation", cache_dir=cache)
        test_f = featurize(splits.test, cfg, splits.names, n_mels=n_mels, tag="test", cache_dir=cache)
        log.info("features ready in %.1f s: %d train windows, %d validation, %d test",
                 time.perf_counter() - t0, len(train_f), len(val_f), len(test_f))

    set_trainable(model, cfg, 0)
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW([{"params": head, "lr": cfg.lr_head}, {"params": enc, "lr": cfg.lr_encoder}],
                                  weight_decay=cfg.weight_decay)
    sampler = EpochSampler(len(train_f), cfg.seed)
    loader = DataLoader(train_f.with_format("torch"), batch_size=cfg.batch_size, sampler=sampler,
                        num_workers=cfg.num_workers, drop_last=len(train_f) > cfg.batch_size)
    steps = math.ceil(len(loader) / cfg.gradient_accumulation_steps) * cfg.epochs
    scheduler = get_scheduler(cfg.scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * steps),
                              num_training_steps=steps)
    model, optimizer, loader, scheduler = acc.prepare(model, optimizer, loader, scheduler)
    val_loader = eval_loader(val_f, cfg.eval_batch_size, acc)
    test_loader = eval_loader(test_f, cfg.eval_batch_size, acc)
    raw = acc.unwrap_model(model)
    if cfg.report_to != "none":
        acc.init_trackers("whisper-genre", config={k: v for k, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool))})

    state = {"epoch": 0, "best": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": []}
    if cfg.resume:
        ck = latest_checkpoint(ckpt_dir)
        if ck is None:
            log.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)
        else:
            acc.load_state(str(ck))
            state = json.loads((ck / "trainer_state.json").read_text())
            log.info("resumed from %s (epoch %d done)", ck, state["epoch"])

    k = len(labels)
    ran = 0
    stopped_early = False
    from tqdm.auto import tqdm

    for epoch in range(state["epoch"], cfg.epochs):
        set_trainable(raw, cfg, epoch)
        sampler.use_epoch(epoch)
        model.train()
        losses = []
        for batch in tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not acc.is_local_main_process, leave=False):
            with acc.accumulate(model):
                x = batch["input_features"].float()
                if cfg.spec_augment:
                    x = spec_augment(x)
                x, target = mixup(x, batch["label"], k, cfg.mixup)
                logits = model(x).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), target)
                acc.backward(loss)
                if acc.sync_gradients and cfg.max_grad_norm:
                    acc.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(acc.gather_for_metrics(loss.detach().float().reshape(1)).mean().item())
        val = evaluate(raw, val_loader, labels, accelerator=acc)
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
               "trainable_parameters": sum(p.numel() for p in raw.parameters() if p.requires_grad)}
        state["history"].append(row)
        acc.log({k_: v for k_, v in row.items() if k_ != "epoch"}, step=epoch + 1)
        acc.print(json.dumps(row))
        metric = val[cfg.metric_for_best]
        if metric > state["best"]:
            state.update(best=metric, best_epoch=epoch + 1, bad_epochs=0)
            if acc.is_main_process:
                raw.save_pretrained(out / "best", safe_serialization=True)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        ck = ckpt_dir / f"epoch_{epoch + 1}"
        acc.save_state(str(ck))
        if acc.is_main_process:
            (ck / "trainer_state.json").write_text(json.dumps(state))
        ran += 1
        if state["bad_epochs"] >= cfg.early_stopping_patience:
            acc.print(f"early stopping: no {cfg.metric_for_best} gain for {state['bad_epochs']} epochs")
            stopped_early = True
            break
        if cfg.stop_after_epochs and ran >= cfg.stop_after_epochs and epoch + 1 < cfg.epochs:
            acc.print(f"stopping after {ran} epoch(s) as asked; continue with --resume")
            acc.end_training()
            return {"finished": False, "epoch": state["epoch"], "history": state["history"]}

    acc.wait_for_everyone()
    # the best epoch's weights, scored once on the held-out test split
    from transformers import WhisperForAudioClassification

    best = WhisperForAudioClassification.from_pretrained(out / "best", use_safetensors=True)
    raw.load_state_dict(best.state_dict())
    test = evaluate(raw, test_loader, labels, accelerator=acc)
    summary = {"finished": True, "stopped_early": stopped_early, "best_epoch": state["best_epoch"],
               "validation_best": state["best"], "test": test, "history": state["history"],
               }
    if acc.is_main_process:
        folder = out / "model"
        save_model(raw, fe, folder)
        (folder / "eval_results.json").write_text(json.dumps(summary, indent=2))
        confusion_png(test, folder / "confusion_matrix.png")
        curves_png(state["history"], folder / "training_curves.png")
        from .card import write_model_card

        write_model_card(folder, cfg, summary, labels, n_train=len(splits.train), n_val=len(splits.validation),
                         n_test=len(splits.test))
        summary["model_dir"] = str(folder)
        acc.print(f"test accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}; model in {folder}")
        if cfg.push_to_hub:
            from .push import push_folder

            summary["hub_url"] = push_folder(folder, cfg.push_to_hub, private=cfg.hub_private)
    acc.end_training()
    return summary


def main(argv=None) -> int:
    from genre_model.model import ModelLoadError

    from .data import DataError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = parse_config(argv)
    try:
        train(cfg)
    except (DataError, ModelLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
