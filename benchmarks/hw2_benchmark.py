"""Benchmark of hw2's autoregressive models: throughput, NLL, sampling, grading time.

    .venv/bin/python benchmarks/hw2_benchmark.py            # or: make hw2-benchmark

The models are the solution notebook's own classes (its cells are executed here, so there is one
source). Writes benchmarks/hw2_results.md and benchmarks/hw2_results.json, naming the device.
Measures, on the CPU and on a GPU when one is present:
  - training throughput (images/s) of the Markov MLP and the LSTM, data kept on the device;
  - test NLL of the committed reference checkpoints (dgm_utils.scoring, first 2000 test images,
    threshold binarisation) and, from the records of benchmarks/hw2_train.py (benchmarks/hw2_training/),
    when each model crossed its pass mark and the LSTM's NLL under static stochastic binarisation;
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
from dgm_utils.scoring import HW2_PASS_MARKS  # noqa: E402
NOTEBOOK = REPO / "solutions" / "hw2_autoregressive" / "hw2_autoregressive.ipynb"
REFERENCE = NOTEBOOK.parent / "reference"
TRAINING_RECORDS = REPO / "benchmarks" / "hw2_training"  # written by benchmarks/hw2_train.py
# Published test NLLs (nats/image) on statically binarised MNIST (Larochelle & Murray's split):
# MADE (Germain et al. 2015), PixelCNN and PixelRNN (van den Oord et al. 2016).
PUBLISHED_STOCHASTIC = {"MADE": 86.64, "PixelCNN": 81.30, "PixelRNN": 79.20}
OUT_MD = REPO / "benchmarks" / "hw2_results.md"
OUT_JSON = REPO / "benchmarks" / "hw2_results.json"


# The pass marks (nats/dim), from their one source, which the notebook and its hidden tests read too.
THRESHOLDS = {"Markov MLP": HW2_PASS_MARKS["MarkovMLP"], "LSTM": HW2_PASS_MARKS["PixelLSTM"]}


# ---------------------------------------------------------------------------- the notebook's code


def notebook_namespace(grade_ids=("setup", "t2_mlp_sol", "t3_rnn_sol", "mlp_config", "rnn_config"),
                       namespace: dict | None = None) -> dict:
    """Execute the named cells of the solution notebook (in ``namespace``) and return their globals."""
    import matplotlib

    matplotlib.use("Agg")
    from dgm_utils.cleanroom import notebook

    nb = notebook.read(NOTEBOOK)
    cells = {**notebook.by_tag(nb), **notebook.by_id(nb)}  # cells by grade id, and the configurations by tag
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
    ns = notebook_namespace(("setup", "t2_mlp_sol", "t3_rnn_sol", "mlp_config", "rnn_config", "t1_baseline_sol",
                             "t1_baseline_fit"), {"x_train": x_train})
    models = {"independent": ns["baseline"]}
    for name, cls, config, file_name in [("Markov MLP", "MarkovMLP", "MLP_CONFIG", ns["MLP_FILE"]),
                                         ("LSTM", "PixelLSTM", "RNN_CONFIG", ns["RNN_FILE"])]:
        if (REFERENCE / file_name).is_file():
            models[name] = load_checkpoint(ns[cls](**ns[config]), REFERENCE / file_name, max_mb=ns["CHECKPOINT_LIMIT_MB"])
        else:
            print(f"warning: {REFERENCE / file_name} is missing; {name} not scored", file=sys.stderr)
    return {name: score_nll(model) for name, model in models.items()}


def grading_time() -> dict:
    """Wall and CPU seconds to execute the solution notebook in grading mode on the CPU (kernel start included).

    CPU seconds (user + system of the kernel) matter on a busy machine, where wall time is inflated.
    """
    from course_tools.collect import load_spec
    from course_tools.variants import grade_variant

    work = Path(tempfile.mkdtemp(prefix="hw2_grade_")) / "hw2_autoregressive"
    work.mkdir()
    shutil.copy(NOTEBOOK, work)
    for name in load_spec(REPO, "hw2_autoregressive").files:
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


def training_runs() -> list[dict]:
    """The records of benchmarks/hw2_train.py, each with when its test curve first met its pass mark.

    The curve is the notebook's: test NLL on the first 2000 test images after each epoch. Pass marks
    apply to the threshold protocol only.
    """
    runs = []
    for path in sorted(TRAINING_RECORDS.glob("*.json")):
        run = json.loads(path.read_text())
        history = run["history"]
        mark = THRESHOLDS.get(run["model"]) if run["binarize"] == "threshold" else None
        elapsed, crossed = 0.0, None
        for epoch, (seconds, test) in enumerate(zip(history["epoch_time_s"], history["test_nll"][1:])):
            elapsed += seconds
            if crossed is None and mark is not None and test < mark:
                crossed = {"epoch": epoch + 1, "train_seconds": elapsed}
        runs.append({"file": path.name, "model": run["model"], "binarize": run["binarize"], "device": run["device"],
                     "epochs": len(history["epoch_time_s"]), "train_seconds": sum(history["epoch_time_s"]),
                     "final_curve_nll": history["test_nll"][-1], "test_nll": run["test_nll"],
                     "pass_mark": mark, "crossed_pass_mark": crossed,
                     "load_average_at_end": run.get("load_average_at_end")})
    return runs


# ---------------------------------------------------------------------------- report


def _load(run: dict) -> str:
    """The 1-minute load average when a training run ended (2 on a 2-core machine with both cores busy)."""
    load = run.get("load_average_at_end")
    return "" if not load else f"{load[0]:.1f}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


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
    results["training_runs"] = training_runs()
    if not args.skip_grading:
        results["grading_seconds_cpu"] = grading_time()

    OUT_JSON.write_text(json.dumps(results, indent=2) + "\n")
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
    ]
    lines += md_table(["model", "nats/dim", "bits/dim", "nats/image", "pass mark (nats/dim)"], [
        [name, f"{value:.4f}", f"{bits_per_dim(value):.4f}", f"{nats_per_image(value):.1f}",
         "" if THRESHOLDS.get(name) is None else f"< {THRESHOLDS[name]:.3f}"] for name, value in nll.items()])
    lines += ["", "## Throughput and sampling", ""]
    lines += md_table(["device", "MLP train img/s", "LSTM train img/s", "64 samples, carried state (s)",
                       "64 samples, prefix recomputed (s)", "speed-up"], [
        [key, f"{e['train_images_per_s']['Markov MLP']:.0f}", f"{e['train_images_per_s']['LSTM']:.0f}",
         f"{e['sampling']['cached_s']:.2f}", f"{e['sampling']['naive_s']:.1f}", f"{e['sampling']['speedup']:.0f}x"]
        for key, e in results["devices"].items()])
    threshold_runs = [r for r in results["training_runs"] if r["binarize"] == "threshold"]
    if threshold_runs:
        lines += ["", "## Reference training (benchmarks/hw2_train.py, records in benchmarks/hw2_training/)", "",
                  "Threshold binarisation. The curve is the notebook's: test NLL on the first 2000 test images after "
                  "each epoch.", ""]
        lines += md_table(["model", "device", "load avg. at end", "epochs", "training time (s)",
                           "final curve NLL (nats/dim)", "all 10,000 test images (nats/dim)", "pass mark first met"], [
            [r["model"], r["device"], _load(r), str(r["epochs"]), f"{r['train_seconds']:.0f}", f"{r['final_curve_nll']:.4f}",
             f"{r['test_nll']['nats/dim']:.4f}",
             "never" if r["crossed_pass_mark"] is None else
             f"after epoch {r['crossed_pass_mark']['epoch']}, {r['crossed_pass_mark']['train_seconds']:.0f} s of training"]
            for r in threshold_runs])
    stochastic_runs = [r for r in results["training_runs"] if r["binarize"] == "stochastic"]
    if stochastic_runs:
        lines += ["", "## Static stochastic binarisation (the literature's protocol)", "",
                  "Each pixel drawn once as Bernoulli(grey/255), seed 0, fixed for every epoch; trained on all "
                  "60,000 training images (the published models used 50,000 and a validation split), scored on all "
                  "10,000 test images binarised the same way.", ""]
        rows = [[f"{r['model']} (this course)", r["device"], _load(r), str(r["epochs"]), f"{r['train_seconds']:.0f}",
                 f"{r['test_nll']['nats/dim']:.4f}", f"{r['test_nll']['bits/dim']:.4f}",
                 f"**{r['test_nll']['nats/image']:.2f}**"] for r in stochastic_runs]
        rows += [[f"{name} (published)", "", "", "", "", f"{value / 784:.4f}", f"{bits_per_dim(value / 784):.4f}",
                  f"{value:.2f}"] for name, value in PUBLISHED_STOCHASTIC.items()]
        lines += md_table(["model", "device", "load avg. at end", "epochs", "training time (s)", "nats/dim", "bits/dim",
                           "nats/image"], rows)
    if "grading_seconds_cpu" in results:
        g = results["grading_seconds_cpu"]
        lines += ["", f"Grading one submission on the CPU (solution notebook, grading mode, kernel start included): "
                  f"**{g['wall_s']:.1f} s wall, {g['kernel_cpu_s']:.1f} s of kernel CPU time** (limit 60 s on 2 cores)."]
    if not stochastic_runs:
        lines += ["", "Not measured yet: the LSTM under static stochastic binarisation (published MADE 86.64, "
                  "PixelCNN 81.30, PixelRNN 79.20 nats/image). Run `benchmarks/hw2_train.py lstm --binarize stochastic`."]
    OUT_MD.write_text("\n".join(line for line in lines if line is not None) + "\n")
    print(OUT_MD.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
