"""ESE's accuracy claim measured on speech (issue 10 item 4): one command.

    python -m benchmarks.bench_accuracy [--quick]

1. Builds (or loads from build/speech/) the espeak-ng spoken-word corpus of
   :mod:`ese_hw.study.speech`; the test set is the held-out voices.
2. Trains a dense float LSTMP classifier (:mod:`ese_hw.study.train`: one ``nn.LSTM(proj_size)``
   layer, a float head on the last frame's ``y``).
3. For each balance (``pe``, ``column``, ``none``) prunes with the project's masks and
   fine-tunes, in steps of decreasing density 0.5 -> 0.25 -> 0.112 -> 0.05 (each step
   starts from the previous one's fine-tuned weights), measuring float accuracy at each.
   Density 1.0 prunes nothing, so it is the dense model under every balance.
4. Exports each model's weights, compresses them (12-bit weights, 16-bit activations,
   the same density, balance and PE count; checked to prune nothing further) and runs the
   golden model on a seeded subset of the test utterances: ``y_T`` de-quantized to float,
   then the float head. The pruned float model runs the same subset (numpy), so the two
   are compared utterance by utterance.
5. Runs every test utterance of the 0.112 / ``pe`` model through the AXI4-Stream top's
   Verilog (Verilator) in one native simulation (:mod:`ese_hw.study.rtl`: utterances
   back to back in the top's lanes, a lane reset on each first frame), checks every
   output of every frame bit-exact against the golden model with the same resets (a
   mismatch ends the run, exit 1) and measures the accuracy on the RTL's own ``y_T``
   through the float head.

Writes ``build/bench/accuracy.json`` and ``build/bench/accuracy.png``. ``--rtl-only``
re-runs step 5 alone on the files an earlier run wrote to ``--out`` (the 0.112 / ``pe``
weights, its float head and float predictions), without training again.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

from ese_hw.errors import EseError, MismatchError
from ese_hw.model.compress import Config, compress
from ese_hw.model.figures import frame_interval
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import WEIGHT_KEYS, lstmp_float
from ese_hw.study.speech import NUMBERED_VARIANTS, CorpusParams, build_corpus

DENSITIES = (1.0, 0.5, 0.25, 0.112, 0.05)
BALANCES = ("pe", "column", "none")
#: The point the RTL runs: ESE's density with PE-balanced pruning.
RTL_POINT = ("pe", 0.112)
#: Lanes of the top the RTL check spreads the utterances over. Measured on all 1,248 test
#: utterances (docs/measured.md, "RTL on speech"): 1 lane 255 s of simulation (41.3 M
#: cycles), 4 lanes 77 s (10.5 M; each cycle 16 % slower), 8 lanes 71 s (5.3 M; each
#: cycle twice as slow as on 1) and a longer build.
RTL_LANES = 4


def _args(argv):
    p = argparse.ArgumentParser(prog="bench_accuracy", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="4 voice variants instead of 13, fewer epochs and utterances")
    p.add_argument("--cells", type=int, default=128)
    p.add_argument("--proj", type=int, default=64)
    p.add_argument("--pes", type=int, default=16)
    p.add_argument("--epochs", type=int, default=None, help="dense training epochs")
    p.add_argument("--ft-epochs", type=int, default=None, help="fine-tune epochs per step")
    p.add_argument("--batch", type=int, default=32, help="utterances per training batch")
    p.add_argument("--golden-utterances", type=int, default=None)
    p.add_argument("--rtl-utterances", type=int, default=None,
                   help="test utterances run on the RTL (default all; 0 skips the RTL)")
    p.add_argument("--rtl-lanes", type=int, default=RTL_LANES,
                   help="lanes of the top the utterances are spread over")
    p.add_argument("--rtl-only", action="store_true",
                   help="only the RTL check, on the model an earlier run wrote to --out")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (2 measured ~10x slower than 1 on the shared cores)")
    p.add_argument("--out", default="build/bench")
    a = p.parse_args(argv)
    quick = dict(epochs=20, ft_epochs=2, golden_utterances=150)
    full = dict(epochs=25, ft_epochs=3, golden_utterances=500)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return a


def golden_predictions(model, head, features):
    """Classes from the golden model's de-quantized last ``y`` through the float head."""
    golden = GoldenModel(model)
    w, b = head
    return np.array([int(np.argmax(w @ golden.run(x)[-1] + b)) for x in features])


def float_predictions(weights, head, features):
    """Classes from the numpy float LSTMP (the compressed model's pruned weights)."""
    w, b = head
    return np.array([int(np.argmax(w @ lstmp_float(weights, x)[-1] + b)) for x in features])


def _compress_checked(path, spec, calib):
    """Compress the exported file as ``ese-hw compress`` would and check that it kept
    every trained weight (pruned nothing further)."""
    from ese_hw.model.stack import load_weights

    written = load_weights(path)
    cfg = Config(n_pe=spec.n_pe, density=spec.density, balance=spec.balance, index_bits=6)
    model = compress(written, cfg, calib=calib)
    for key in WEIGHT_KEYS:
        if not np.array_equal(model.float_weights[key], written[key]):
            raise EseError(f"compress pruned {key} further than training did")
    return model


def _evaluate_point(clf, spec, data, out_dir, tag):
    """Float (torch) accuracy on the whole test set, then export, compress and golden."""
    from ese_hw.study.train import export_weights, head_arrays, predict

    xte, yte, sub, calib = data["xte"], data["yte"], data["sub"], data["calib"]
    float_pred = predict(clf, xte)
    point = {"float_acc": float(np.mean(float_pred == yte))}
    path = out_dir / f"accuracy-weights-{tag}.npz"
    export_weights(clf, path, spec)
    t = time.monotonic()
    model = _compress_checked(path, spec, calib)
    head = head_arrays(clf)
    # What the RTL check needs besides the weights, so --rtl-only need not train again.
    np.savez(out_dir / f"accuracy-head-{tag}.npz", weight=head[0], bias=head[1],
             float_pred=float_pred)
    feats = [xte[i] for i in sub]
    g = golden_predictions(model, head, feats)
    f = float_predictions(model.float_weights, head, feats)
    truth = yte[sub]
    point.update({
        "nnz": model.stats["nnz_total"], "density_measured": model.stats["density"],
        "pe_nnz_min": model.stats["pe_nnz_min"], "pe_nnz_max": model.stats["pe_nnz_max"],
        "subset_float_acc": float(np.mean(f == truth)),
        "golden_acc": float(np.mean(g == truth)),
        "golden_float_agreement": float(np.mean(g == f)),
        "golden_seconds": round(time.monotonic() - t, 1), "weights": str(path)})
    return point, model


def _rtl_point(args, data, out_dir):
    """The :data:`RTL_POINT` model (compressed again from its exported weights), its float
    head and the float model's test predictions, from the files the sweep wrote."""
    from ese_hw.study.train import PruneSpec

    balance, density = RTL_POINT
    tag = f"{balance}-{density}"
    weights, head = (out_dir / f"accuracy-{kind}-{tag}.npz" for kind in ("weights", "head"))
    if not (weights.is_file() and head.is_file()):
        raise EseError(f"{weights} or {head} is missing: run the whole study first")
    spec = PruneSpec(n_pe=args.pes, density=density, balance=balance)
    model = _compress_checked(weights, spec, data["calib"])
    with np.load(head) as f:
        return model, (f["weight"], f["bias"]), f["float_pred"]


def _rtl_check(args, data, out_dir):
    """The test utterances (all, or a seeded ``--rtl-utterances``) on the top's RTL in
    one native Verilator run, bit-exact, and the accuracy measured on its outputs."""
    from ese_hw.study.rtl import run_utterances

    model, (w, b), float_pred = _rtl_point(args, data, out_dir)
    n_test = len(data["xte"])
    n = n_test if args.rtl_utterances is None else min(args.rtl_utterances, n_test)
    idx = (np.arange(n_test) if n == n_test else
           np.sort(np.random.default_rng(11).choice(n_test, n, replace=False)))
    golden = GoldenModel(model)
    xs = [golden.quantize_inputs(data["xte"][i]) for i in idx]
    print(f"rtl: {n} utterances, {sum(map(len, xs))} frames on {args.rtl_lanes} lane(s)",
          flush=True)
    t = time.monotonic()
    run = run_utterances(model, xs, lanes=args.rtl_lanes, sim="verilator", progress=False)
    seconds = time.monotonic() - t
    scale = 2.0 ** -run.frac_bits
    rtl_pred = np.argmax(scale * run.y_last @ w.T + b, axis=1)
    golden_pred = np.argmax(scale * run.golden_last @ w.T + b, axis=1)
    truth, top = data["yte"][idx], run.top
    return {"model": "-".join(map(str, RTL_POINT)), "sim": "verilator", "harness": "native",
            "utterances": int(n), "frames": int(sum(map(len, xs))), "lanes": args.rtl_lanes,
            "frames_per_lane": run.packing.n_frames, "bit_exact_vs_golden": True,
            "sim_cycles": int(top.sim_cycles), "sim_seconds": round(top.sim_seconds, 2),
            "sim_cycles_per_second": round(top.sim_cycles_per_second),
            "cycles_per_frame": round(frame_interval(top.frame_done), 1),
            "load_beats": int(top.load_beats), "build_seconds": round(top.build_seconds, 1),
            "build_cached": top.cached, "golden_seconds": run.golden_seconds,
            "rtl_acc": float(np.mean(rtl_pred == truth)),
            "golden_acc": float(np.mean(golden_pred == truth)),
            "float_acc": float(np.mean(float_pred[idx] == truth)),
            "rtl_golden_same_classes": bool(np.array_equal(rtl_pred, golden_pred)),
            "rtl_float_agreement": float(np.mean(rtl_pred == float_pred[idx])),
            "seconds": round(seconds, 1)}


def _train_dense(args, data, log):
    from ese_hw.study.train import LstmpClassifier, accuracy, train_epochs

    n_words = int(max(data["ytr"].max(), data["yte"].max())) + 1
    clf = LstmpClassifier(data["xtr"][0].shape[1], args.cells, args.proj, n_words, seed=0)
    t = time.monotonic()
    hist = train_epochs(clf, data["xtr"], data["ytr"], epochs=args.epochs,
                        batch_size=args.batch, progress=True)
    log["dense"] = {"train_seconds": round(time.monotonic() - t, 1), "history": hist,
                    "float_acc": accuracy(clf, data["xte"], data["yte"]),
                    "train_acc": accuracy(clf, data["xtr"], data["ytr"])}
    print(f"dense: test {log['dense']['float_acc']:.4f} train "
          f"{log['dense']['train_acc']:.4f} ({log['dense']['train_seconds']} s)", flush=True)
    return clf


def _sweep(args, dense, data, out_dir, log):
    from ese_hw.study.train import PruneSpec, fine_tune

    points = []
    for balance in BALANCES:
        clf = copy.deepcopy(dense)
        for density in DENSITIES:
            t = time.monotonic()
            if density < 1.0:
                _, spec, hist = fine_tune(clf, data["xtr"], data["ytr"], n_pe=args.pes,
                                          densities=(density,), balance=balance,
                                          epochs=args.ft_epochs, batch_size=args.batch)
            else:                       # nothing to prune: the dense model itself
                spec, hist = PruneSpec(n_pe=args.pes, density=1.0, balance=balance), []
            point, _ = _evaluate_point(clf, spec, data, out_dir, f"{balance}-{density}")
            point.update(balance=balance, density=density, fine_tune=hist,
                         seconds=round(time.monotonic() - t, 1))
            points.append(point)
            print(f"{balance:6} {density:5}: float {point['float_acc']:.4f} golden "
                  f"{point['golden_acc']:.4f} (subset float {point['subset_float_acc']:.4f},"
                  f" agree {point['golden_float_agreement']:.4f}) {point['seconds']} s",
                  flush=True)
    log["points"] = points


def _plot(log, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k, balance in enumerate(BALANCES):
        pts = sorted((p for p in log["points"] if p["balance"] == balance),
                     key=lambda p: p["density"])
        d = [p["density"] for p in pts]
        ax.plot(d, [100 * p["float_acc"] for p in pts], "o-", color=f"C{k}",
                label=f"{balance}: float")
        ax.plot(d, [100 * p["golden_acc"] for p in pts], "x:", color=f"C{k}",
                label=f"{balance}: golden 12/16 (subset)")
    ax.axhline(100 * log["dense"]["float_acc"], color="grey", lw=0.8, label="dense float")
    ax.axvline(0.112, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("density (kept weights)")
    ax.set_ylabel("test accuracy, held-out voices (%)")
    ax.set_title(f"{log['corpus']['utterances']} utterances, {len(log['corpus']['words'])} "
                 f"words, LSTMP {log['model']['cells']}/{log['model']['proj']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _corpus(args):
    # Every non-MBROLA English voice; the 13 numbered variants (+m1..+m8, +f1..+f5), each
    # word twice with its own rate, pitch, SNR and RT60 (the quick run: 4 variants, once).
    # All 101 variants (CorpusParams()) is 19,392 utterances: ~10 min to synthesize here
    # and several times the training time, more than this study's budget on 2 cores.
    params = (CorpusParams(variants=NUMBERED_VARIANTS, max_variants=4) if args.quick else
              CorpusParams(variants=NUMBERED_VARIANTS, repeats=2))
    t = time.monotonic()
    corpus = build_corpus(params)
    xtr, ytr = corpus.split("train")
    xte, yte = corpus.split("test")
    rng = np.random.default_rng(7)
    sub = np.sort(rng.choice(len(xte), min(args.golden_utterances, len(xte)), replace=False))
    calib = np.concatenate(xtr[:64])
    data = dict(xtr=xtr, ytr=ytr, xte=xte, yte=yte, sub=sub, calib=calib)
    info = {**corpus.info, "words": list(corpus.words), "load_seconds":
            round(time.monotonic() - t, 1), "golden_subset": len(sub)}
    return data, info


def _study(args, data, corpus_info, out_dir):
    """Steps 2-4: dense training, the pruning sweep; returns the log so far."""
    log = {"command": "python -m benchmarks.bench_accuracy" + (" --quick" if args.quick else ""),
           "quick": args.quick, "corpus": corpus_info,
           "model": {"inputs": int(data["xtr"][0].shape[1]), "cells": args.cells,
                     "proj": args.proj, "n_pe": args.pes, "weight_bits": 12, "act_bits": 16,
                     "index_bits": 6},
           "epochs": args.epochs, "ft_epochs_per_step": args.ft_epochs,
           "batch": args.batch, "torch_threads": args.threads}
    print(f"corpus: {corpus_info['utterances']} utterances ({corpus_info['train']} train, "
          f"{corpus_info['test']} test), built in {corpus_info['build_seconds']} s", flush=True)
    dense = _train_dense(args, data, log)
    _sweep(args, dense, data, out_dir, log)
    (out_dir / "accuracy.json").write_text(json.dumps(log, indent=1))   # before the RTL
    return log


def _earlier_log(args, out_dir):
    """--rtl-only: the log of the earlier run whose files it reuses (same corpus and model)."""
    path = out_dir / "accuracy.json"
    if not path.is_file():
        raise EseError(f"--rtl-only: {path} is missing: run the whole study first")
    log = json.loads(path.read_text())
    if log.get("quick") != args.quick or log["model"]["cells"] != args.cells or \
            log["model"]["proj"] != args.proj or log["model"]["n_pe"] != args.pes:
        raise EseError(f"--rtl-only: {path} is of another study (quick, cells, proj or PEs)")
    return log


def main(argv=None):
    import torch

    args = _args(argv)
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    data, corpus_info = _corpus(args)
    if args.rtl_only:
        log = _earlier_log(args, out_dir)
    else:
        np.save(out_dir / "accuracy-calib.npy", data["calib"])
        log = _study(args, data, corpus_info, out_dir)
    if args.rtl_utterances != 0:
        log["rtl"] = _rtl_check(args, data, out_dir)
        print(f"rtl: {json.dumps(log['rtl'])}", flush=True)
    if args.rtl_only:                   # the study's time stays the earlier run's
        log["rtl"]["rtl_only_seconds"] = round(time.monotonic() - start, 1)
    else:
        log["total_seconds"] = round(time.monotonic() - start, 1)
    (out_dir / "accuracy.json").write_text(json.dumps(log, indent=1))
    _plot(log, out_dir / "accuracy.png")
    print(f"wrote {out_dir / 'accuracy.json'} and accuracy.png in "
          f"{round(time.monotonic() - start, 1)} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MismatchError as e:         # the RTL is wrong, not the input: exit 1
        print(f"bench_accuracy: {e}", file=sys.stderr)
        sys.exit(1)
    except EseError as e:
        print(f"bench_accuracy: {e}", file=sys.stderr)
        sys.exit(2)
