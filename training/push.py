"""Publish a trained model folder to the Hugging Face Hub.

    python -m training.push FOLDER REPO_ID [--private] [--message MSG]

Creates the repo if needed and uploads config.json, model.safetensors, preprocessor_config.json,
the plots, eval_results.json and the model card. The token comes from ``HF_TOKEN`` or
``hf auth login``; it is never printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REQUIRED = ("config.json", "model.safetensors", "preprocessor_config.json", "README.md")
ALLOW = ["*.json", "*.safetensors", "*.png", "README.md"]


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, message: str = "Upload genre model") -> str:
    """Upload ``folder`` to ``repo_id``; returns the repo URL. Raises ValueError when a file is missing."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    missing = [f for f in REQUIRED if not (folder / f).exists()]
    if missing:
        raise ValueError(f"{folder} is not a complete model folder; missing {missing}")
    api = HfApi()
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", allow_patterns=ALLOW,
                      commit_message=message)
    return str(url)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Upload a trained genre model folder to the Hub")
    ap.add_argument("folder")
    ap.add_argument("repo_id")
    ap.add_argument("--private", action="store_true")
    ap.add_argument("--message", default="Upload genre model")
    args = ap.parse_args(argv)
    try:
        url = push_folder(args.folder, args.repo_id, private=args.private, message=args.message)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # network, auth: say which, never echo credentials
        print(f"error: upload to {args.repo_id} failed: {type(e).__name__}", file=sys.stderr)
        return 1
    print(f"pushed {args.folder} to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
