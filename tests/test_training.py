"""Training through the same CLI a user runs: a tiny random Whisper on synthetic classes."""
import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from tests.conftest import SR

CLASSES = ("bursts", "high", "low", "noise")


def _clip(kind: str, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(30 * SR) / SR
    if kind == "low":
        y = 0.4 * np.sin(2 * np.pi * r.uniform(100, 200) * t)
    elif kind == "high":
        y = 0.4 * np.sin(2 * np.pi * r.uniform(2500, 4000) * t)
    elif kind == "noise":
        y = 0.2 * r.standard_normal(t.size)
    else:  # noise bursts at a steady pulse
        y = np.zeros(t.size)
        n = int(0.1 * SR)
        for s in np.arange(0, 29.8, r.uniform(0.4, 0.6)):
            y[int(s * SR): int(s * SR) + n] = 0.5 * r.standard_normal(n) * np.exp(-np.arange(n) / (0.03 * SR))
    return (y + 0.01 * r.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """An audiofolder (one folder per class) with one corrupt file, and a tiny base checkpoint."""
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from genre_model.model import tiny_config

    root = tmp_path_factory.mktemp("train")
    for c, kind in enumerate(CLASSES):
        (root / "data" / kind).mkdir(parents=True)
        for i in range(24):
            sf.write(root / "data" / kind / f"{kind}{i:02d}.wav", _clip(kind, 1000 * c + i), SR)
    (root / "data" / "noise" / "noise99.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt broken")
    torch.manual_seed(0)
    WhisperForConditionalGeneration(tiny_config()).save_pretrained(root / "base")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "base")
    return root


def _args(root, out, *extra):
    return ["--data", str(root / "data"), "--label-column", "label", "--base-model", str(root / "base"),
            "--output-dir", str(out), "--cache-dir", str(root / "cache"), "--batch-size", "4",
            "--freeze-encoder-epochs", "0", "--unfreeze-top-k", "99", "--val-fraction", "0.25",
            "--test-fraction", "0.25", "--lr-head", "3e-3", "--lr-encoder", "1e-3", *extra]


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    from training.train import main

    out = tmp_path_factory.mktemp("run")
    caplog_records = []
    handler = logging.Handler()
    handler.emit = caplog_records.append
    logging.getLogger("training").addHandler(handler)
    try:
        assert main(_args(dataset, out, "--epochs", "12", "--early-stopping-patience", "5")) == 0
    finally:
        logging.getLogger("training").removeHandler(handler)
    return out, [r.getMessage() for r in caplog_records]


def test_trains_to_high_held_out_accuracy(trained):
    out, _ = trained
    results = json.loads((out / "model" / "eval_results.json").read_text())
    assert results["test"]["accuracy"] >= 0.9, results["test"]["confusion_matrix"]
    assert results["test"]["n_clips"] == 24 and results["test"]["labels"] == sorted(CLASSES)


def test_corrupt_clip_is_skipped_with_a_warning(trained):
    _, messages = trained
    assert any("noise99.wav" in m and "skipping" in m for m in messages)


def test_saved_model_works_with_stock_pipeline(trained):
    from transformers import pipeline

    out, _ = trained
    clf = pipeline("audio-classification", model=str(out / "model"))
    preds = [clf(_clip(kind, 5000 + i), top_k=1)[0]["label"] for i, kind in enumerate(CLASSES * 2)]
    assert sum(p == k for p, k in zip(preds, CLASSES * 2)) >= 6
    card = (out / "model" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["pipeline_tag"] == "audio-classification" and meta["library_name"] == "transformers"
    assert meta["model-index"][0]["results"][0]["metrics"][0]["type"] == "accuracy"
    for f in ("confusion_matrix.png", "training_curves.png", "preprocessor_config.json", "model.safetensors"):
        assert (out / "model" / f).stat().st_size > 0


def test_resume_continues_exactly(dataset, tmp_path):
    from safetensors.torch import load_file

    from training.train import main

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(_args(dataset, straight, "--epochs", "3", "--early-stopping-patience", "9")) == 0
    assert main(_args(dataset, resumed, "--epochs", "3", "--early-stopping-patience", "9", "--stop-after-epochs", "1")) == 0
    assert not (resumed / "checkpoints" / "epoch_2").exists()  # it really stopped after epoch 1
    assert main(_args(dataset, resumed, "--epochs", "3", "--early-stopping-patience", "9", "--resume")) == 0
    a = load_file(straight / "checkpoints" / "epoch_3" / "model.safetensors")
    b = load_file(resumed / "checkpoints" / "epoch_3" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    hist_a = json.loads((straight / "checkpoints" / "epoch_3" / "trainer_state.json").read_text())["history"]
    hist_b = json.loads((resumed / "checkpoints" / "epoch_3" / "trainer_state.json").read_text())["history"]
    assert [round(h["train_loss"], 5) for h in hist_a] == [round(h["train_loss"], 5) for h in hist_b]


def test_ddp_two_cpu_processes_stay_identical_through_the_unfreeze(dataset, tmp_path):
    """Two processes (gloo) train through a frozen epoch and an unfreeze; every epoch both ranks'
    weights are compared (train.py gathers a checksum from each). Flipping requires_grad after
    prepare, as this project once did, leaves the encoder out of DDP and fails this test."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training",
           *_args(dataset, out, "--epochs", "2", "--early-stopping-patience", "9")]
    cmd[cmd.index("--freeze-encoder-epochs") + 1] = "1"
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode != 0 and "terminate called without an active exception" in proc.stderr:
        # A rank once died at interpreter exit, after all its work, inside torch's gloo teardown
        # (CI, busy 2-core machine; not reproduced here in 7 runs, 3 of them under CPU load). train.py now tears the group
        # down on every rank together; should it recur, one fresh run decides. Any other failure,
        # or the same one twice, fails the test.
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "checkpoints" / "epoch_2" / "trainer_state.json").read_text())
    hist = state["history"]
    assert [h["ranks_in_sync"] for h in hist] == [True, True]
    assert hist[1]["trainable_parameters"] > hist[0]["trainable_parameters"]  # the encoder did unfreeze
    steps = [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines()]
    # 48 training clips / (2 ranks x batch 4) = 6 optimizer steps per epoch, each logged with its rates
    assert [s["step"] for s in steps] == list(range(1, 13)) and {"loss", "lr_head", "lr_encoder"} <= set(steps[0])


def test_early_stopping_when_the_metric_stalls(dataset, tmp_path):
    from training.train import main

    out = tmp_path / "stall"
    args = _args(dataset, out, "--epochs", "10", "--early-stopping-patience", "2")
    args[args.index("--lr-head") + 1] = "0"
    args[args.index("--lr-encoder") + 1] = "0"
    assert main(args) == 0
    results = json.loads((out / "model" / "eval_results.json").read_text())
    assert results["stopped_early"] and len(results["history"]) == 3


def test_frozen_and_unfrozen_parameter_sets():
    from transformers import WhisperForAudioClassification

    from genre_model.model import tiny_config, trainable_parameter_names
    from training.config import TrainConfig
    from training.train import set_trainable

    model = WhisperForAudioClassification(tiny_config(encoder_layers=3))
    cfg = TrainConfig(freeze_encoder_epochs=2, unfreeze_top_k=1)
    set_trainable(model, cfg, epoch=0)
    names = trainable_parameter_names(model)
    assert names and not any(n.startswith("encoder.") for n in names)
    set_trainable(model, cfg, epoch=2)
    enc = {n for n in trainable_parameter_names(model) if n.startswith("encoder.")}
    assert enc and all(n.startswith(("encoder.layers.2.", "encoder.layer_norm.")) for n in enc)
    set_trainable(model, TrainConfig(freeze_encoder_epochs=0, unfreeze_top_k=99), epoch=0)
    assert "encoder.conv1.weight" in trainable_parameter_names(model)


def test_push_uploads_a_complete_model_without_leaking_the_token(trained, monkeypatch, capsys):
    from huggingface_hub import HfApi

    from training.push import main as push_main

    out, _ = trained
    calls = {}
    monkeypatch.setenv("HF_TOKEN", "hf_supersecret_token_123")
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("repo", (repo_id, kw)) and f"https://hub/{repo_id}")

    def upload_folder(self, *, folder_path, repo_id, allow_patterns=None, **kw):
        import fnmatch
        import os

        calls["files"] = sorted(f for f in os.listdir(folder_path) if any(fnmatch.fnmatch(f, p) for p in allow_patterns))
        calls["card"] = open(os.path.join(folder_path, "README.md")).read()

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert push_main([str(out / "model"), "someone/genre-model"]) == 0
    assert calls["repo"][0] == "someone/genre-model"
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md",
            "confusion_matrix.png", "training_curves.png"} <= set(calls["files"])
    assert yaml.safe_load(calls["card"].split("---")[1])["pipeline_tag"] == "audio-classification"
    printed = capsys.readouterr()
    assert "hf_supersecret" not in printed.out + printed.err


def test_evaluate_cli(trained, dataset, tmp_path, capsys):
    from training.evaluate import main as eval_main

    out, _ = trained
    rc = eval_main([str(out / "model"), "--data", str(dataset / "data"), "--label-column", "label",
                    "--val-fraction", "0.25", "--test-fraction", "0.25", "--cache-dir", str(dataset / "cache"),
                    "--output-dir", str(tmp_path), "--eval-split", "test"])
    assert rc == 0
    metrics = json.loads((tmp_path / "test_metrics.json").read_text())
    assert metrics["n_clips"] == 24 and (tmp_path / "confusion_test.png").exists()


def test_offline_hub_dataset_fails_fast(tmp_path, capsys):
    from training.train import main

    assert main(["--data", "nobody/no-such-dataset", "--output-dir", str(tmp_path)]) == 2
    assert "unreachable" in capsys.readouterr().err


def test_file_lists_match_by_stem_and_warn_about_misses_and_overlaps(caplog):
    from training.data import split_by_lists

    names = ["blues.00000.wav", "blues.00001.au", "jazz.00054.wav", "rock.00003.wav"]
    lists = [["genres/blues/blues.00000.au", "rock.00003", "missing.00001"],  # train
             ["blues.00001"],                                                 # validation
             ["jazz.00054.wav", "rock.00003.wav"]]                            # test (rock overlaps train)
    with caplog.at_level("WARNING", logger="training"):
        tr, va, te = split_by_lists(names, lists)
    assert tr.tolist() == [0] and va.tolist() == [1] and te.tolist() == [2, 3]
    text = caplog.text
    assert "missing.00001" in text and "rock.00003" in text and "kept in test" in text


def test_requested_label_column_wins_over_a_label_column(tmp_path):
    import datasets

    from training.config import TrainConfig
    from training.data import DataError, make_splits

    wavs = []
    for i in range(12):
        p = tmp_path / f"c{i:02d}.wav"
        sf.write(p, _clip("low", i)[: 2 * SR], SR)
        wavs.append(str(p))
    ds = datasets.Dataset.from_dict({"audio": wavs, "genre": ["a", "b", "c"] * 4, "label": ["x"] * 12})
    ds.save_to_disk(tmp_path / "ds")
    splits = make_splits(TrainConfig(data=str(tmp_path / "ds"), label_column="genre", val_fraction=0.25,
                                     test_fraction=0.25))
    assert splits.labels == ["a", "b", "c"]
    auto = make_splits(TrainConfig(data=str(tmp_path / "ds"), val_fraction=0.25, test_fraction=0.25))
    assert auto.labels == ["a", "b", "c"]  # "genre" is preferred when no column is named
    with pytest.raises(DataError, match="no column 'style'"):
        make_splits(TrainConfig(data=str(tmp_path / "ds"), label_column="style"))


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    from training.train import prune_checkpoints

    for e in range(1, 6):
        (tmp_path / f"epoch_{e}").mkdir()
    prune_checkpoints(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_4", "epoch_5"]


def test_no_weight_decay_on_biases_norms_and_layer_weights():
    from transformers import WhisperForAudioClassification

    from genre_model.model import tiny_config
    from training.config import TrainConfig
    from training.train import param_groups

    model = WhisperForAudioClassification(tiny_config(use_weighted_layer_sum=True))
    groups = param_groups(model, TrainConfig(weight_decay=0.05))
    for g in groups:
        for n in g["names"]:
            decays = g["weight_decay"] > 0
            assert decays == (n.endswith("weight") and "layer_norm" not in n and n != "layer_weights"), n
    assert {g["group"] for g in groups} == {"head", "encoder"}


def test_featurising_in_two_processes_gives_the_same_features(dataset, tmp_path):
    """--num-proc 2 (forked workers, after the parent has used torch's thread pool) finishes and
    gives exactly the single-process features."""
    import numpy as np

    from genre_model.features import log_mel
    from training.config import TrainConfig
    from training.data import featurize, make_splits

    log_mel(np.zeros((2, 480000), np.float32))  # the parent's torch thread pool is warm, as in training
    cfg = TrainConfig(data=str(dataset / "data"), label_column="label", val_fraction=0.25, test_fraction=0.25)
    splits = make_splits(cfg)
    one = featurize(splits.validation, cfg, splits.names, n_mels=80, tag="v", cache_dir=tmp_path / "one")
    cfg.num_proc = 2
    two = featurize(splits.validation, cfg, splits.names, n_mels=80, tag="v", cache_dir=tmp_path / "two")
    assert one["clip"] == two["clip"] and one["label"] == two["label"]
    assert np.array_equal(np.asarray(one["input_features"][:3]), np.asarray(two["input_features"][:3]))
