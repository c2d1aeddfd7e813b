"""`python -m train publish RUN_DIR --model NAME --repo-id USER/NAME`: a run's HuBERT as a Hub model repository.

NAME is hubert-finetune (the fine-tuned checkpoint) or hubert-probe (the linear head, published with
the id of its base model). The repository holds the weights as safetensors, the config or probe files,
and a model card written from the run's metrics.json. Log in first (`hf auth login` or HF_TOKEN).

--dry-run --out DIR writes the same folder without uploading: ANIMAL_AUDIO_HUBERT=DIR loads it, as
ANIMAL_AUDIO_HUBERT=USER/NAME loads the published repository.
"""

from __future__ import annotations

import argparse

from train.common import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "publish",
        "publish a run's trained HuBERT to the Hugging Face Hub (or --dry-run)",
        __doc__,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished comparison run")
    parser.add_argument("--model", required=True, help="hubert-finetune or hubert-probe")
    parser.add_argument("--repo-id", required=True, help="the Hub repository, USER/NAME")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--dry-run", action="store_true", help="write the folder (--out) but upload nothing")
    parser.add_argument("--out", help="write the repository folder here (required with --dry-run)")
    parser.add_argument(
        "--base", help="hub id of the probe's base model, when the run used a local copy of it"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from animal_audio.publish import publish

    result = publish(
        args.run_dir,
        args.model,
        args.repo_id,
        private=args.private,
        dry_run=args.dry_run,
        out=args.out,
        base=args.base,
    )
    if result.url is None:
        print(f"Wrote {result.kind} to {result.folder} (nothing uploaded).")
        print(f"Try it: ANIMAL_AUDIO_HUBERT={result.folder} python app.py")
    else:
        print(f"Published {result.kind} to {result.url}")
        print(f"Use it: set ANIMAL_AUDIO_HUBERT={result.repo_id} (e.g. in your Space's settings)")
    return 0
