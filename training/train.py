"""Fine-tune the Whisper-encoder genre classifier with accelerate.

    python -m training --data sanchit-gandhi/gtzan --base-model openai/whisper-tiny --output-dir out
    accelerate launch -m training --mixed-precision bf16 ...   (multi-GPU / multi-node unchanged)

One loop (Accelerator, prepare, accumulate, gather_for_metrics, save_state/load_state): features
are cached once (training.data), SpecAugment and mixup happen on the fly, the encoder can stay
frozen for the first epochs and then train its top k blocks, the head and the encoder have their
own learning rates (no weight decay on biases, norms and layer weights), warmup then cosine
decay, early stopping on the validation metric, a checkpoint every epoch that ``--resume``
continues exactly (the last ``--keep-checkpoints`` are kept). The best epoch's weights are
scored once on the test split and saved with plots and a model card; ``--push-to-hub`` uploads
them. Per-step loss and learning rates go to the trackers and to ``steps.jsonl``.

Freezing is done through the optimizer, not ``requires_grad``: every parameter that may ever
train requires gradients from the start, so DistributedDataParallel registers and all-reduces
them all; a frozen parameter's gradient is dropped before the optimizer step (AdamW then leaves
it, its moments and its weight decay alone). Flipping ``requires_grad`` after ``prepare`` would
leave the later-unfrozen encoder out of DDP's reducer: each GPU would train its own encoder.
Every epoch checks that all ranks hold the same weights (``ranks_in_sync`` in the history).
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from genre_model.model import build_model, freeze_encoder, save_model, trainable_parameter_names, unfreeze_top_blocks

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


def build(cfg: TrainConfig, labels: list[str]):
    return build_model(cfg.base_model, labels, use_weighted_layer_sum=cfg.use_weighted_layer_sum,
                       classifier_proj_size=cfg.classifier_proj_size, dropout=cfg.dropout)


def set_trainable(model, cfg: TrainConfig, epoch: int) -> None:
    """Set ``requires_grad`` to this epoch's parameter set: encoder frozen for
    ``freeze_encoder_epochs``, then the top ``unfreeze_top_k`` blocks (the head always trains).
    The training loop does not call this on a prepared model (see the module docstring); it
    reads the set with :func:`trainable_at`."""
    for p in model.parameters():
        p.requires_grad_(True)
    if cfg.freeze_encoder_epochs > 0 or cfg.unfreeze_top_k < len(model.encoder.layers):
        freeze_encoder(model)
        if epoch >= cfg.freeze_encoder_epochs:
            unfreeze_top_blocks(model, cfg.unfreeze_top_k)
    model.encoder.embed_positions.requires_grad_(False)


def trainable_at(model, cfg: TrainConfig, epoch: int) -> set[str]:
    """Names of the parameters that train in ``epoch`` (``model``'s flags are left as they were)."""
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    set_trainable(model, cfg, epoch)
    names = trainable_parameter_names(model)
    for n, p in model.named_parameters():
        p.requires_grad_(before[n])
    return names


def ever_trainable(model, cfg: TrainConfig) -> set[str]:
    """Parameters that train in some epoch: they require gradients from before ``prepare``."""
    return trainable_at(model, cfg, 0) | trainable_at(model, cfg, min(max(cfg.freeze_encoder_epochs, 0), cfg.epochs - 1))


def no_decay(name: str) -> bool:
    """Biases, layer norms and the layer-sum weights take no weight decay."""
    return name.endswith(".bias") or "layer_norm" in name or "layernorm" in name or name == "layer_weights"


def param_groups(model, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: (head | encoder) x (decay | no decay), each with its learning rate."""
    groups = {}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "encoder" if n.startswith("encoder.") else "head"
        key = (part, no_decay(n))
        groups.setdefault(key, {"params": [], "names": [], "lr": cfg.lr_encoder if part == "encoder" else cfg.lr_head,
                                "weight_decay": 0.0 if key[1] else cfg.weight_decay, "group": part})
        groups[key]["params"].append(p)
        groups[key]["names"].append(n)
    return list(groups.values())


def weights_checksum(model) -> float:
    """A position-weighted float64 sum of every parameter: equal on ranks that hold equal weights."""
    with torch.no_grad():
        return float(sum((p.detach().double().flatten() * (1 + (i % 7))).sum() for i, p in enumerate(model.parameters())))


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` epoch checkpoints (keep <= 0 keeps all)."""
    cks = sorted(folder.glob("epoch_*"), key=lambda p: int(p.name.split("_")[1]))
    for ck in cks[:-keep] if keep > 0 else []:
        shutil.rmtree(ck, ignore_errors=True)


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
    # torchrun on machines without CUDA: accelerate joins the processes only when told it is on CPU
    cpu_ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    acc = Accelerator(cpu=cpu_ddp, mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.gradient_accumulation_steps,
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

    every = ever_trainable(model, cfg)
    for n, p in model.named_parameters():
        p.requires_grad_(n in every)
    groups = param_groups(model, cfg)
    optimizer = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups])
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
    names_of = {id(p): n for n, p in raw.named_parameters()}
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

    steps_log = out / "steps.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(state["epoch"], cfg.epochs):
        active = trainable_at(raw, cfg, epoch)
        frozen = [p for p in raw.parameters() if p.requires_grad and names_of[id(p)] not in active]
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
                for p in frozen:  # frozen this epoch: AdamW skips a parameter without a gradient
                    p.grad = None
                if acc.sync_gradients and cfg.max_grad_norm:
                    acc.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(acc.gather_for_metrics(loss.detach().float().reshape(1)).mean().item())
            if acc.sync_gradients:
                state["step"] = state.get("step", 0) + 1
                lrs = {f"lr_{g['group']}": g["lr"] for g in optimizer.param_groups}
                step_row = {"step": state["step"], "epoch": epoch + 1, "loss": losses[-1], **lrs}
                acc.log({"train/loss": losses[-1], **{f"train/{k_}": v for k_, v in lrs.items()}}, step=state["step"])
                if acc.is_main_process:
                    with open(steps_log, "a") as fh:
                        fh.write(json.dumps(step_row) + "\n")
        val = evaluate(raw, val_loader, labels, accelerator=acc)
        sums = acc.gather(torch.tensor([weights_checksum(raw)], dtype=torch.float64, device=acc.device)).cpu().tolist()
        in_sync = max(sums) - min(sums) <= 1e-9 * max(1.0, abs(sums[0]))
        if not in_sync:
            log.error("the ranks hold different weights after epoch %d (checksums %s)", epoch + 1, sums)
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
               "trainable_parameters": sum(p.numel() for p in raw.parameters() if names_of[id(p)] in active),
               "ranks_in_sync": bool(in_sync)}
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
            prune_checkpoints(ckpt_dir, cfg.keep_checkpoints)
        ran += 1
        if state["bad_epochs"] >= cfg.early_stopping_patience:
            acc.print(f"early stopping: no {cfg.metric_for_best} gain for {state['bad_epochs']} epochs")
            stopped_early = True
            break
        if cfg.stop_after_epochs and ran >= cfg.stop_after_epochs and epoch + 1 < cfg.epochs:
            acc.print(f"stopping after {ran} epoch(s) as asked; continue with --resume")
            _end(acc)
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
    # The push needs no process group, so it comes after it is torn down, and the other ranks do
    # not wait on an upload inside a collective's timeout.
    _end(acc)
    if acc.is_main_process and cfg.push_to_hub:
        from .push import push_folder

        summary["hub_url"] = push_folder(summary["model_dir"], cfg.push_to_hub, private=cfg.hub_private)
    return summary


def _end(acc) -> None:
    """Every rank tears the process group down together, once rank 0 has written its files: a rank
    that left first once died at exit (SIGABRT, "terminate called without an active exception")
    while rank 0 still held the group."""
    acc.wait_for_everyone()
    acc.free_memory()
    acc.end_training()


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
