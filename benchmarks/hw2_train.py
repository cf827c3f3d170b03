"""Train one of hw2's models with the solution notebook's own full-mode code, and record the run.

    .venv/bin/python benchmarks/hw2_train.py lstm                         # threshold binarisation
    .venv/bin/python benchmarks/hw2_train.py lstm --binarize stochastic   # the literature protocol
    .venv/bin/python benchmarks/hw2_train.py mlp --install                # also copy into reference/

The notebook's cells are executed here (setup, the model classes, the hyperparameter cells and
``load_or_train``), so the model, the hyperparameters and the training call are the notebook's:
this is ``make hw2-reference`` for one model, which lets two models train side by side on two
cores. It writes

  - the checkpoint under benchmarks/results/checkpoints/<model>_<binarize>/ (git-ignored);
    with ``--install`` (threshold only) it is also copied to solutions/hw2_autoregressive/reference/;
  - benchmarks/hw2_training/<model>_<binarize>.json (committed): the device, the configuration, the
    per-epoch history (nats/dim on the notebook's 2000-image curve subset of the test set), and
    the final test NLL on all 10,000 test images in nats/dim, bits/dim and nats/image, scored by
    ``dgm_utils.scoring`` under the same binarisation as the training data.

``make hw2-benchmark`` reads those records into benchmarks/hw2_results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

RECORDS = REPO / "benchmarks" / "hw2_training"  # committed
SCRATCH = REPO / "benchmarks" / "results"  # git-ignored
MODELS = {
    "mlp": ("Markov MLP", "MarkovMLP", "MLP_CONFIG", "MLP_TRAINING", "MLP_FILE"),
    "lstm": ("LSTM", "PixelLSTM", "RNN_CONFIG", "RNN_TRAINING", "RNN_FILE"),
}


def record_name(model: str, binarize: str) -> str:
    """File name of the record of a run of ``model`` under ``binarize``."""
    return f"{model}_{binarize}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--binarize", choices=("threshold", "stochastic"), default="threshold",
                        help="threshold: grey/255 > 0.5 (the assignment's protocol); stochastic: static "
                             "stochastic binarisation, seed 0 (the literature's protocol)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--install", action="store_true",
                        help="copy the checkpoint into solutions/hw2_autoregressive/reference/ (threshold only)")
    parser.add_argument("--records", type=Path, default=None,
                        help=f"folder of the run record (default {RECORDS.relative_to(REPO)}; a temporary one with --smoke)")
    parser.add_argument("--smoke", action="store_true",
                        help="check the script: 1 epoch of 2 batches; record and checkpoint in a temporary folder")
    args = parser.parse_args(argv)
    if args.install and args.binarize != "threshold":
        parser.error("--install is for the threshold protocol: the assignment is graded on it")
    if os.environ.get("NBGRADER_EXECUTION") or (os.environ.get("DGM_FAST") and not args.smoke):
        parser.error("unset DGM_FAST and NBGRADER_EXECUTION: this trains the full-mode reference")
    if args.smoke and args.install:
        parser.error("--smoke never installs a checkpoint")
    records = args.records or (Path(tempfile.mkdtemp(prefix="hw2_train_smoke_")) if args.smoke else RECORDS)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from dgm_utils import bits_per_dim, load_mnist, nats_per_image
    from dgm_utils.scoring import score_nll
    from hw2_benchmark import REFERENCE, device_name, notebook_namespace

    name, cls, config, training, file_var = MODELS[args.model]
    x_train = load_mnist("train", binarize=args.binarize, flatten=True)
    x_test = load_mnist("test", binarize=args.binarize, flatten=True)
    ns = notebook_namespace(("setup", "t2_mlp_sol", "t3_rnn_sol", "mlp_config", "rnn_config", "load_or_train"),
                            {"x_train": x_train, "x_curve": x_test[:2000]})
    # The notebook's own loader/trainer, pointed at a scratch folder with a fresh start.
    scratch = (records if args.smoke else SCRATCH) / "checkpoints" / f"{args.model}_{args.binarize}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    ns["CHECKPOINT_DIR"], ns["RETRAIN"] = scratch, True
    device = ns["device"]
    if args.smoke:
        ns[training] = {**ns[training], "num_epochs": 1, "max_steps_per_epoch": 2}
    print(f"training {name} on {device_name(device)}, binarisation {args.binarize}: {ns[training]}", flush=True)

    start = time.perf_counter()
    model, history, error = ns["load_or_train"](lambda: ns[cls](**ns[config]), ns[file_var], ns[training])
    seconds = time.perf_counter() - start
    if error:
        raise SystemExit(f"training failed: {error}")
    checkpoint = scratch / ns[file_var]
    x_score = x_test[:500] if args.smoke else x_test  # all 10,000 test images in a real run
    final = score_nll(model.cpu(), x_score)  # causality is checked too
    record = {
        "model": name,
        "binarize": args.binarize,
        "device": device_name(device) + ("" if device.type == "cuda" else "; no GPU"),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
        "produced_by": f"benchmarks/hw2_train.py {args.model} --binarize {args.binarize}: the solution notebook's "
                       f"load_or_train with {config} and {training}, seed 0, all 60000 training images",
        "config": {config: ns[config], training: ns[training]},
        "history": history,
        "time_s": seconds,
        "checkpoint_bytes": checkpoint.stat().st_size,
        "test_nll": {"images": len(x_score), "nats/dim": final, "bits/dim": bits_per_dim(final),
                     "nats/image": nats_per_image(final)},
    }
    out = records / record_name(args.model, args.binarize)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["test_nll"]), f"-> {out}", flush=True)
    if args.install:
        REFERENCE.mkdir(parents=True, exist_ok=True)
        shutil.copy(checkpoint, REFERENCE / ns[file_var])
        print(f"installed {REFERENCE / ns[file_var]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
