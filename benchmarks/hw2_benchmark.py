"""Benchmark of hw2's autoregressive models: throughput, NLL, sampling, grading time.

    .venv/bin/python benchmarks/hw2_benchmark.py            # or: make hw2-benchmark

The models are the solution notebook's own classes (its cells are executed here, so there is one
source). Writes benchmarks/hw2_results.md and benchmarks/hw2_results.json, naming the device.
Measures, on the CPU and on a GPU when one is present:
  - training throughput (images/s) of the Markov MLP and the LSTM, data kept on the device;
  - test NLL of the committed reference checkpoints (dgm_utils.scoring, first 2000 test images,
    threshold binarisation) and, from the reference training record, when each crossed its pass mark;
  - sampling 64 digits with the carried LSTM state against re-running the prefix at every pixel;
  - the wall time to grade one submission on the CPU (notebook executed in grading mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NOTEBOOK = REPO / "solutions" / "hw2_autoregressive" / "hw2_autoregressive.ipynb"
REFERENCE = NOTEBOOK.parent / "reference"
TRAINING_RECORD = REPO / "benchmarks" / "hw2_reference_training.json"
OUT_MD = REPO / "benchmarks" / "hw2_results.md"
OUT_JSON = REPO / "benchmarks" / "hw2_results.json"


def pass_marks() -> dict[str, float]:
    """The pass marks (nats/dim) read from the notebook's hidden tests, their one source."""
    import re

    marks = {}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in ("t2_mlp_nll", "t3_rnn_nll"):
            found = re.search(r"assert _nll < ([0-9.]+)", "".join(cell["source"]))
            marks["Markov MLP" if gid == "t2_mlp_nll" else "LSTM"] = float(found.group(1))
    return marks


THRESHOLDS = pass_marks()


# ---------------------------------------------------------------------------- the notebook's code


def notebook_namespace(grade_ids=("setup", "t2_mlp_sol", "t3_rnn_sol", "mlp_config", "rnn_config"),
                       namespace: dict | None = None) -> dict:
    """Execute the named cells of the solution notebook (in ``namespace``) and return their globals."""
    import matplotlib

    matplotlib.use("Agg")
    cells = {}
    for c in json.loads(NOTEBOOK.read_text())["cells"]:
        if c["cell_type"] == "code":
            for key in [c["metadata"].get("nbgrader", {}).get("grade_id"), *c["metadata"].get("tags", [])]:
                cells[key] = "".join(c["source"])
    namespace = dict(namespace or {})
    for gid in grade_ids:
        exec(compile(cells[gid], f"{NOTEBOOK.name}:{gid}", "exec"), namespace)  # noqa: S102
    return namespace


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads, {os.cpu_count()} logical CPUs"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------- measurements


def training_throughput(model: torch.nn.Module, x: torch.Tensor, device: torch.device, *, batch_size: int = 128,
                        steps: int = 10, warmup: int = 2) -> float:
    """Images per second of Adam steps on the model's mean NLL, with the data already on ``device``."""
    model = model.to(device).train()
    x = x.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator(device="cpu").manual_seed(0)
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        idx = torch.randint(0, len(x), (batch_size,), generator=g).to(device)
        loss = -model.log_prob(x[idx]).mean() / 784
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


@torch.no_grad()
def naive_lstm_sample(model, num_samples: int) -> torch.Tensor:
    """Sample by re-running the LSTM over the whole prefix at every pixel: O(m^2) steps."""
    device = model.head.weight.device
    x = torch.zeros(num_samples, 784, device=device)
    for i in range(784):
        out, _ = model.lstm(model._inputs(x, 0, i + 1))
        x[:, i] = torch.bernoulli(torch.sigmoid(model.head(out[:, -1]).squeeze(-1)))
    return x.reshape(num_samples, 1, 28, 28)


def sampling_speedup(model, device: torch.device, num_samples: int = 64) -> dict:
    """Seconds to sample ``num_samples`` digits with the carried state and with prefix recomputation."""
    model = model.to(device).eval()
    torch.manual_seed(0)
    _sync(device)
    start = time.perf_counter()
    model.sample(num_samples)
    _sync(device)
    cached = time.perf_counter() - start
    start = time.perf_counter()
    naive_lstm_sample(model, num_samples)
    _sync(device)
    naive = time.perf_counter() - start
    return {"num_samples": num_samples, "pixels": 784, "cached_s": cached, "naive_s": naive, "speedup": naive / cached}


def reference_nll() -> dict:
    """Test NLL (nats/dim) of the committed reference checkpoints and of the independent baseline."""
    from dgm_utils import load_mnist
    from dgm_utils.scoring import load_checkpoint, score_nll

    x_train = load_mnist("train", binarize="threshold", flatten=True, limit=None)
    ns = notebook_namespace(("setup", "t2_mlp_sol", "t3_rnn_sol", "mlp_config", "rnn_config", "t1_baseline_sol"),
                            {"x_train": x_train})
    models = {"independent": ns["baseline"]}
    for name, cls, config, file_name in [("Markov MLP", "MarkovMLP", "MLP_CONFIG", "markov_mlp_state.bin"),
                                         ("LSTM", "PixelLSTM", "RNN_CONFIG", "rnn_state.bin")]:
        if (REFERENCE / file_name).is_file():
            models[name] = load_checkpoint(ns[cls](**ns[config]), REFERENCE / file_name, max_mb=2)
        else:
            print(f"warning: {REFERENCE / file_name} is missing; {name} not scored", file=sys.stderr)
    return {name: score_nll(model) for name, model in models.items()}


def grading_time() -> dict:
    """Wall and CPU seconds to execute the solution notebook in grading mode on the CPU (kernel start included).

    CPU seconds (user + system of the kernel) matter on a busy machine, where wall time is inflated.
    """
    from course_tools.variants import grade_variant

    work = Path(tempfile.mkdtemp(prefix="hw2_grade_")) / "hw2_autoregressive"
    work.mkdir()
    shutil.copy(NOTEBOOK, work)
    for name in ("markov_mlp_state.bin", "rnn_state.bin"):
        shutil.copy(REFERENCE / name, work / name)
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    scores = grade_variant(NOTEBOOK, {}, workdir=work, env={"DGM_DEVICE": "cpu", "DGM_FAST": ""})
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    shutil.rmtree(work.parent, ignore_errors=True)
    points, total = scores.total
    if points != total:
        print(f"warning: the solution scored {points}/{total} while timing: {scores.errors}", file=sys.stderr)
    return {"wall_s": elapsed, "kernel_cpu_s": cpu}


# ---------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-grading", action="store_true", help="do not time a grading run")
    args = parser.parse_args(argv)
    from dgm_utils import bits_per_dim, load_mnist, nats_per_image

    ns = notebook_namespace()
    x = load_mnist("train", binarize="threshold", flatten=True, limit=4096)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results: dict = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
        "gpu_available": torch.cuda.is_available(),
        "devices": {},
    }
    for device in devices:
        torch.manual_seed(0)
        entry = {"name": device_name(device)}
        entry["train_images_per_s"] = {
            "Markov MLP": training_throughput(ns["MarkovMLP"](**ns["MLP_CONFIG"]), x, device),
            "LSTM": training_throughput(ns["PixelLSTM"](**ns["RNN_CONFIG"]), x, device),
        }
        entry["sampling"] = sampling_speedup(ns["PixelLSTM"](**ns["RNN_CONFIG"]), device)
        results["devices"][device.type] = entry
        print(device.type, json.dumps(entry, indent=1), flush=True)

    nll = reference_nll()
    results["reference_nll_nats_per_dim"] = nll
    results["thresholds_nats_per_dim"] = THRESHOLDS
    if TRAINING_RECORD.is_file():
        record = json.loads(TRAINING_RECORD.read_text())
        crossed = {}
        for name, run in record["runs"].items():
            elapsed, when = 0.0, None
            for epoch, (seconds, test) in enumerate(zip(run["history"]["epoch_time_s"], run["history"]["test_nll"][1:])):
                elapsed += seconds
                if when is None and name in THRESHOLDS and test < THRESHOLDS[name]:
                    when = {"epoch": epoch + 1, "train_seconds": elapsed}
            crossed[name] = when
        results["reference_training"] = {"device": record["device"], "crossed_threshold": crossed,
                                         "final_curve_nll": {n: r["history"]["test_nll"][-1] for n, r in record["runs"].items()},
                                         "train_seconds": {n: sum(r["history"]["epoch_time_s"]) for n, r in record["runs"].items()}}
    if not args.skip_grading:
        results["grading_seconds_cpu"] = grading_time()

    OUT_JSON.write_text(json.dumps(results, indent=2) + "\n")
    cpu = results["devices"]["cpu"]
    lines = [
        "# hw2 benchmark (autoregressive models of binarised MNIST)",
        "",
        f"Written by `benchmarks/hw2_benchmark.py` on {results['date_utc']} UTC, torch {results['torch']}.",
        "Devices: " + ", ".join(f"{k}: {v['name']}" for k, v in results["devices"].items()) + ".",
        "**No GPU was available for this run: every figure is from the CPU.**" if not results["gpu_available"] else "",
        f"Load average during the run: {', '.join(f'{v:.1f}' for v in results['load_average'])} "
        "(a shared machine: timings are indicative).",
        "",
        "## Test NLL of the reference checkpoints",
        "First 2000 MNIST test images, binarised at 0.5 (threshold), scored by `dgm_utils.scoring`.",
        "",
        "| model | nats/dim | bits/dim | nats/image | pass mark (nats/dim) |",
        "|---|---|---|---|---|",
    ]
    for name, value in nll.items():
        mark = THRESHOLDS.get(name)
        lines.append(f"| {name} | {value:.4f} | {bits_per_dim(value):.4f} | {nats_per_image(value):.1f} | "
                     f"{'' if mark is None else f'< {mark:.3f}'} |")
    lines += ["", "## Throughput and sampling", "", "| device | MLP train img/s | LSTM train img/s | "
              "64 samples, carried state (s) | 64 samples, prefix recomputed (s) | speed-up |", "|---|---|---|---|---|---|"]
    for key, entry in results["devices"].items():
        s = entry["sampling"]
        lines.append(f"| {key} | {entry['train_images_per_s']['Markov MLP']:.0f} | {entry['train_images_per_s']['LSTM']:.0f} | "
                     f"{s['cached_s']:.2f} | {s['naive_s']:.1f} | {s['speedup']:.0f}x |")
    if "reference_training" in results:
        rt = results["reference_training"]
        lines += ["", "## Reference training (from benchmarks/hw2_reference_training.json)", "",
                  f"Trained on: {rt['device']}.", "",
                  "| model | training time (s) | final test NLL on the 2000-image curve subset (nats/dim) | pass mark first met |",
                  "|---|---|---|---|"]
        for name in rt["train_seconds"]:
            c = rt["crossed_threshold"].get(name)
            met = "never" if c is None else f"after epoch {c['epoch']}, {c['train_seconds']:.0f} s of training"
            lines.append(f"| {name} | {rt['train_seconds'][name]:.0f} | {rt['final_curve_nll'][name]:.4f} | {met} |")
    if "grading_seconds_cpu" in results:
        g = results["grading_seconds_cpu"]
        lines += ["", f"Grading one submission on the CPU (solution notebook, grading mode, kernel start included): "
                  f"**{g['wall_s']:.1f} s wall, {g['kernel_cpu_s']:.1f} s of kernel CPU time** (limit 60 s on 2 cores)."]
    lines += ["", "Not measured here: the same LSTM under static stochastic binarisation (published MADE 86.64, "
              "PixelCNN 81.30, PixelRNN 79.20 nats/image); it needs a GPU training run."]
    OUT_MD.write_text("\n".join(line for line in lines if line is not None) + "\n")
    print(OUT_MD.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
