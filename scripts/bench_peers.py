#!/usr/bin/env python3
"""tfc's compiled variants side by side with PyTorch, ONNX Runtime and OpenVINO.

One invocation, CPU only, batch 1, float32 everywhere (unless --precision says otherwise, below),
the same weights for every framework:

  1. GPT-2 small (GPT2LMHeadModel, default GPT2Config, full logits) and/or ViT-B/16
     (ViTForImageClassification, 224x224, patch 16, 1000 labels) are built by the transformers
     library, randomly initialised with fixed seeds, and saved with save_pretrained
     (config.json + model.safetensors) into a cache folder.
  2. `tfc import` turns that checkpoint into a .tir; torch.onnx.export writes an ONNX file
     that ONNX Runtime and OpenVINO both load. Every output is checked against PyTorch's.
  3. `tfc compile` turns each variant (pre-ln, pre-rms, pre-crms) into an object, linked into a
     shared library and called through ctypes. For each thread count, the peers (PyTorch eager,
     ONNX Runtime, OpenVINO) and tfc's three objects are timed in interleaved rounds, one call
     of each per round; then `tfc bench` times tfc's JIT-compiled variants the same way, in its
     own process, as a cross-check.
  4. One table per model and thread count: median, p10, p90, GFLOP/s (tfc's count of
     matrix work for everyone) and the speed relative to the best peer of that run.

With --precision bf16 (or both: float32 and bf16 in the same interleaved rounds) the reduced-
precision path of each framework is timed as well, as a user would get it:
  - OpenVINO at its default inference precision (no INFERENCE_PRECISION_HINT: bf16 on CPUs with
    AMX or AVX512_BF16, f32 elsewhere) as "openvino-default"; the precision it chose (the
    compiled model's INFERENCE_PRECISION_HINT) is printed and named in its row;
  - PyTorch eager under torch.autocast("cpu", dtype=torch.bfloat16) as "torch-bf16";
  - tfc's objects compiled with `tfc compile --precision bf16` ("tfc-bf16 pre-ln" etc.), and
    `tfc bench --precision fp32,bf16` (or bf16) as the cross-check;
  - ONNX Runtime has no bf16 mode here: it is only timed in float32.
Every row then also shows the largest absolute difference of its output from the float32
PyTorch reference and, for GPT-2, the argmax agreement: the fraction of positions whose
argmax equals the reference's, counting only positions whose reference top-2 margin exceeds
0.05. "vs best peer" compares with the best peer of the same precision group (fp32: PyTorch,
ONNX Runtime, OpenVINO f32; bf16: PyTorch bf16 autocast, OpenVINO default), and each tfc bf16
row is also compared with OpenVINO's default-precision row. The bf16 numbers only mean
something on CPUs with bf16 instructions (AVX512_BF16 or AMX); elsewhere every framework
emulates bf16 or falls back to f32.

Optional tooling, run by hand (never by the tests or CI), from the repository root:

    python -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -r scripts/requirements-bench.txt
    swift build -c release --product tfc
    /tmp/benchvenv/bin/python scripts/bench_peers.py --model both --threads 1,2 --runs 10 --json /tmp/bench.json
    /tmp/benchvenv/bin/python scripts/bench_peers.py --model gpt2 --threads 1,2 --precision both

See Docs/benchmarks.md for what is measured and how, and for measured tables.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ["torch", "ort", "openvino"]
ALL_FRAMEWORKS = PEERS + ["tfc"]
TFC_VARIANTS = ["pre-ln", "pre-rms", "pre-crms"]
LABELS = {"torch": "PyTorch eager", "ort": "ONNX Runtime", "openvino": "OpenVINO",
          "torch-bf16": "PyTorch bf16 autocast", "openvino-default": "OpenVINO default"}
# With --precision bf16/both: the reduced-precision peers, each with the framework it runs on.
BF16_PEERS = {"torch-bf16": "torch", "openvino-default": "openvino"}
# Every peer, in table order, with its precision group ("vs best peer" compares within a group).
PEER_GROUP = {"torch": "fp32", "ort": "fp32", "openvino": "fp32", "torch-bf16": "bf16", "openvino-default": "bf16"}
ALL_PEERS = list(PEER_GROUP)
# GPT-2's argmax agreement counts only positions whose float32 reference top-2 margin exceeds this.
ARGMAX_MARGIN = 0.05
MODEL_SEED = {"gpt2": 1234, "vit": 5678}
INPUT_SEED = 42
ONNX_OPSET = 18
# Bump to rebuild everything cached (checkpoints, .tir, ONNX files) after a change here.
CACHE_FORMAT = 1


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(f"warning: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Options, machine, versions


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Time tfc's compiled variants against PyTorch, ONNX Runtime and OpenVINO "
                    "(CPU, batch 1, float32 unless --precision says otherwise, same weights, same run).")
    p.add_argument("--model", choices=["gpt2", "vit", "both"], default="both")
    p.add_argument("--seq", type=int, default=128, help="GPT-2 sequence length (default 128)")
    p.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--runs", type=int, default=None, help="timed calls per framework/variant (default 20, --quick 5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3, --quick 1)")
    p.add_argument("--quick", action="store_true", help="fewer runs (a smoke test, not a measurement)")
    p.add_argument("--frameworks", default=",".join(ALL_FRAMEWORKS),
                   help="comma-separated subset of torch,ort,openvino,tfc (default: all); with --precision "
                        "both, torch and openvino also time torch-bf16 and openvino-default (with bf16: only "
                        "those), which can also be named alone")
    p.add_argument("--precision", choices=["fp32", "bf16", "both"], default="fp32",
                   help="fp32 (default): float32 everywhere; bf16: each framework's bf16 path (PyTorch "
                        "autocast, OpenVINO's default precision, tfc compile --precision bf16; ONNX Runtime "
                        "is skipped); both: float32 and bf16 in the same rounds. bf16 and both add each "
                        "output's max abs error against the float32 PyTorch reference (and GPT-2's argmax "
                        "agreement) to the tables. Only meaningful on CPUs with bf16 instructions")
    p.add_argument("--tfc-timing", default="interleaved,bench",
                   help="how tfc is timed, comma-separated: 'interleaved' (its objects from tfc compile, "
                        "one per variant, called in-process in the same rounds as the peers) and/or 'bench' "
                        "(tfc bench: JIT, its own process, its variants interleaved with each other) "
                        "(default: both)")
    p.add_argument("--tfc", default=os.path.join(ROOT, ".build", "release", "tfc"),
                   help="the tfc executable (default .build/release/tfc, built if missing)")
    p.add_argument("--cache", default=os.path.join(ROOT, ".bench-cache"),
                   help="folder for checkpoints, .tir and ONNX files (default .bench-cache/, "
                        "git-ignored by a .gitignore written into it)")
    p.add_argument("--pause", type=float, default=0.05,
                   help="seconds of idle time before each timed peer call, so that one framework's "
                        "spinning worker threads have gone to sleep before the next one runs (default 0.05)")
    p.add_argument("--max-load", type=float, default=None,
                   help="on a shared machine: before each timed part, wait (up to 10 minutes) until the "
                        "1-minute load average is below this (e.g. 0.5)")
    p.add_argument("--json", dest="json_out", default=None, help="also write every result to this JSON file")
    p.add_argument("--decode", action="store_true",
                   help="GPT-2 generation instead: the time of one new token after --context cached positions, "
                        "PyTorch + transformers with its key/value cache against tfc's extend entry points "
                        "(its objects, every variant), interleaved; float32")
    p.add_argument("--context", default="128,512", help="with --decode: cached positions, comma-separated (default 128,512)")
    a = p.parse_args(argv)
    try:
        a.contexts = [int(c) for c in a.context.split(",") if c.strip()]
    except ValueError:
        p.error(f"--context: expected integers, got {a.context!r}")
    if a.decode and (not a.contexts or min(a.contexts) < 1 or max(a.contexts) > 1023):
        p.error("--context: cached positions must be within 1...1023")
    a.runs = a.runs if a.runs is not None else (5 if a.quick else 20)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 3)
    if a.runs < 1 or a.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    try:
        a.thread_counts = [int(t) for t in a.threads.split(",") if t.strip()]
    except ValueError:
        p.error(f"--threads: expected integers, got {a.threads!r}")
    if not a.thread_counts or min(a.thread_counts) < 1:
        p.error("--threads: thread counts must be >= 1")
    a.models = ["gpt2", "vit"] if a.model == "both" else [a.model]
    a.fw = [f.strip() for f in a.frameworks.split(",") if f.strip()]
    bad = [f for f in a.fw if f not in ALL_FRAMEWORKS + list(BF16_PEERS)]
    if bad:
        p.error(f"--frameworks: unknown {', '.join(bad)} (choose from {', '.join(ALL_FRAMEWORKS + list(BF16_PEERS))})")
    a.precisions = {"fp32": ["fp32"], "bf16": ["bf16"], "both": ["fp32", "bf16"]}[a.precision]
    named_bf16 = [f for f in a.fw if f in BF16_PEERS]
    if named_bf16 and "bf16" not in a.precisions:
        p.error(f"--frameworks {', '.join(named_bf16)}: needs --precision bf16 or both")
    # The peers to time: torch, ort and openvino in float32; torch-bf16 and openvino-default in bf16.
    a.peers = [f for f in ALL_PEERS
               if (f in a.fw and ("fp32" in a.precisions or f in BF16_PEERS))
               or ("bf16" in a.precisions and BF16_PEERS.get(f) in a.fw)]
    a.tfc_modes = [m.strip() for m in a.tfc_timing.split(",") if m.strip()]
    if not a.tfc_modes or any(m not in ("interleaved", "bench") for m in a.tfc_modes):
        p.error("--tfc-timing: expected interleaved, bench or both")
    if not 1 <= a.seq <= 1024:
        p.error("--seq must be within 1...1024 (GPT-2's n_positions)")
    return a


def machine_info():
    cpu = platform.processor() or platform.machine()
    flags = set()
    ids = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith(("cpu family", "model\t", "stepping")) and ":" in line:
                    key = line.split(":", 1)[0].strip().replace(" ", "_")
                    ids.setdefault(key, line.split(":", 1)[1].strip())
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_fp16",
                        "asimd", "sve"] if f in flags]
    if ids:
        cpu += " (" + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ids.items()) + ")"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "simd": simd,
        "os": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def library_versions(tfc_path):
    v = {}
    for name in ["torch", "transformers", "onnx", "onnxruntime", "openvino", "onnxscript", "numpy", "safetensors"]:
        try:
            mod = __import__(name)
            v[name] = getattr(mod, "__version__", "?")
        except Exception:
            v[name] = None
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        v["tfc"] = f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None
    except Exception:
        v["tfc"] = None
    if v["tfc"] is not None and tfc_path:
        v["tfc"] += f", {os.path.relpath(tfc_path, ROOT) if tfc_path.startswith(ROOT) else tfc_path}"
    try:
        out = subprocess.run(["swift", "--version"], capture_output=True, text=True, timeout=30).stdout
        v["swift"] = out.strip().splitlines()[0] if out.strip() else None
    except Exception:
        v["swift"] = None
    return v


# --------------------------------------------------------------------------------------------
# tfc


def ensure_tfc(path):
    """The tfc executable; `swift build -c release --product tfc` if it is the default and missing."""
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    default = os.path.join(ROOT, ".build", "release", "tfc")
    if os.path.abspath(path) != default:
        sys.exit(f"error: --tfc {path}: no such executable")
    log("building tfc: swift build -c release --product tfc")
    r = subprocess.run(["swift", "build", "-c", "release", "--product", "tfc"], cwd=ROOT)
    if r.returncode != 0 or not os.path.isfile(default):
        sys.exit("error: swift build -c release --product tfc failed")
    return default


def run_tfc(tfc, args, timeout=3600):
    r = subprocess.run([tfc] + args, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"tfc {' '.join(args)} exited {r.returncode}:\n{r.stderr.strip()}\n{r.stdout.strip()[-2000:]}")
    return r.stdout


def tfc_bench(tfc, tir, seq, threads, runs, warmup, precisions=("fp32",)):
    args = ["bench", tir, "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup),
            "--variants", ",".join(TFC_VARIANTS), "--json"]
    if list(precisions) != ["fp32"]:  # fp32 alone is the default (and what older tfc binaries time)
        args += ["--precision", ",".join(precisions)]
    if seq is not None:
        args += ["--seq", str(seq)]
    t0 = time.time()
    out = run_tfc(tfc, args)
    start = out.find("{")
    report = json.loads(out[start:])
    report["wallSeconds"] = time.time() - t0
    return report


class TfcObject:
    """One tfc variant compiled ahead of time (`tfc compile`: an object with the weights embedded
    and its header), linked into a shared library and called through ctypes, in this process:
    the deployment path, timed in the same rounds as the peers."""

    def __init__(self, tfc, tir, variant, kind, x_np, folder, precision="fp32"):
        import ctypes
        import numpy as np
        import re
        self.precision = precision
        base = os.path.join(folder, f"{kind}-{variant}" + ("" if precision == "fp32" else f"-{precision}"))
        # fp32 is tfc compile's default: no --precision flag then (older tfc binaries lack it).
        run_tfc(tfc, ["compile", tir, "-o", base + ".o", "--variant", variant]
                + ([] if precision == "fp32" else ["--precision", precision]))
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            raise RuntimeError("no C compiler (cc) to link tfc's object into a shared library")
        r = subprocess.run([cc, "-shared", "-o", base + ".so", base + ".o", "-lm", "-lpthread"],
                           capture_output=True, text=True)
        os.remove(base + ".o")
        if r.returncode != 0:
            raise RuntimeError(f"{cc} -shared failed: {r.stderr.strip()}")
        with open(base + ".h") as f:
            header = f.read()
        m = re.search(r"int32_t (\w+)_forward_threads\(([^)]*)\);", header)
        ws = re.search(r"#define (\w+)_WORKSPACE_SIZE (\d+)", header)
        if not m or not ws:
            raise RuntimeError(f"{base}.h: no <name>_forward_threads or <NAME>_WORKSPACE_SIZE")
        params = [p.strip() for p in m.group(2).split(",")]
        self.lib = ctypes.CDLL(base + ".so")
        fn = getattr(self.lib, m.group(1) + "_forward_threads")
        fn.restype = ctypes.c_int32
        # Inputs, [seq_len,] outputs, workspace, threads.
        expected = 5 if kind == "gpt2" else 4
        if len(params) != expected or (kind == "gpt2" and "int64_t" not in params[1]):
            raise RuntimeError(f"{base}.h: unexpected signature {m.group(0)}")
        fn.argtypes = ([ctypes.c_void_p, ctypes.c_int64] if kind == "gpt2" else [ctypes.c_void_p]) \
            + [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
        size = int(ws.group(2))
        self.workspace = np.zeros(size + 64, dtype=np.uint8)
        ws_ptr = self.workspace.ctypes.data + (-self.workspace.ctypes.data) % 64
        if kind == "gpt2":
            self.input = np.ascontiguousarray(x_np[0].astype(np.int32))
            self.out = np.zeros((x_np.shape[1], 50257), dtype=np.float32)
            self.args = (self.input.ctypes.data, x_np.shape[1], self.out.ctypes.data, ws_ptr)
        else:
            self.input = np.ascontiguousarray(x_np[0])
            self.out = np.zeros((1, 1000), dtype=np.float32)
            self.args = (self.input.ctypes.data, self.out.ctypes.data, ws_ptr)
        self.fn = fn
        self.header, self.prefix, self.workspace_ptr = header, m.group(1), ws_ptr
        self.info = {"library": os.path.basename(base) + ".so", "workspaceBytes": size,
                     "symbol": m.group(1) + "_forward_threads"}
        if precision != "fp32":
            self.info["precision"] = precision

    def close(self):
        import _ctypes
        _ctypes.dlclose(self.lib._handle)
        self.lib = self.fn = None

    def bind(self, threads):
        fn, args = self.fn, self.args + (threads,)

        def call():
            status = fn(*args)
            if status != 0:
                raise RuntimeError(f"tfc {self.info['symbol']} returned status {status}")
            return self.out

        def result():
            call()
            return self.out.copy()

        return call, result


# --------------------------------------------------------------------------------------------
# Models, checkpoints, inputs


def make_tfc_decoder(obj, tokens, context, threads):
    """One new token at a time through a tfc object's extend entry point, after `context` cached
    positions of `tokens`; each call adds tokens[context] and cuts the cache back to `context`."""
    import ctypes
    import numpy as np
    import re
    size = re.search(r"#define \w+_CACHE_SIZE (\d+)", obj.header)
    if size is None:
        raise RuntimeError(f"{obj.info['library']}: the header declares no key/value cache (<NAME>_CACHE_SIZE)")
    lib, p = obj.lib, obj.prefix
    init = getattr(lib, p + "_cache_init")
    init.argtypes, init.restype = [ctypes.c_void_p], ctypes.c_int32
    cut = getattr(lib, p + "_cache_truncate")
    cut.argtypes, cut.restype = [ctypes.c_void_p, ctypes.c_int64], ctypes.c_int32
    extend = getattr(lib, p + "_extend")
    extend.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    extend.restype = ctypes.c_int32
    memory = np.zeros(int(size.group(1)) + 64, dtype=np.uint8)
    cache = memory.ctypes.data + (-memory.ctypes.data) % 64
    ids = np.ascontiguousarray(tokens.astype(np.int32))
    logits = np.zeros(50257, dtype=np.float32)
    ws = obj.workspace_ptr
    status = init(cache) or extend(ids.ctypes.data, context, cache, logits.ctypes.data, ws, threads)
    if status != 0:
        raise RuntimeError(f"tfc {p}_extend (prefill of {context}) returned status {status}")
    token = ids.ctypes.data + 4 * context

    def call():
        status = extend(token, 1, cache, logits.ctypes.data, ws, threads) or cut(cache, context)
        if status != 0:
            raise RuntimeError(f"tfc {p}_extend returned status {status}")

    def result():
        call()
        return logits.copy()

    call.keep = (memory, ids)  # the cache and the ids live as long as the call
    return call, result


def make_torch_decoder(model, tokens, context):
    """One new token at a time through transformers' key/value cache (DynamicCache), after
    `context` cached positions; each call cuts the cache back to `context` (DynamicCache.crop)."""
    import torch
    ids = torch.tensor(tokens[None, :context + 1].astype("int64"))
    with torch.inference_mode():
        cache = model(ids[:, :context], use_cache=True).past_key_values
    last = {}

    def call():
        with torch.inference_mode():
            last["logits"] = model(ids[:, context:context + 1], past_key_values=cache, use_cache=True).logits
        excess = cache.get_seq_length() - context
        if excess:
            cache.crop(-excess)  # transformers 5: a negative count of tokens to remove

    def result():
        call()
        return last["logits"][0, -1].float().numpy().copy()

    return call, result


def decode_main(args):
    """--decode: PyTorch + transformers (its key/value cache) and tfc's extend entry points, one
    new token after each --context, interleaved per thread count."""
    import numpy as np
    import torch
    tfc = ensure_tfc(os.path.abspath(args.tfc))
    prepare_cache(args.cache)
    mach = machine_info()
    log(f"machine: {mach['cpu']}, {mach['logical_cpus']} logical CPUs ({mach['usable_cpus']} usable); {mach['os']}")
    log("versions: " + ", ".join(f"{k} {v}" for k, v in library_versions(tfc).items() if v))
    log(f"decode: one new token after {', '.join(map(str, args.contexts))} cached positions; threads {args.thread_counts}; "
        f"{args.runs} timed tokens after {args.warmup} warm-up ones; float32; {load_average()}")
    model, _, tir = load_or_build("gpt2", args.cache, tfc, True)
    model.eval()
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 50257, size=max(args.contexts) + 1)
    folder = os.path.join(args.cache, "objects")
    os.makedirs(folder, exist_ok=True)
    objects = {v: TfcObject(tfc, tir, v, "gpt2", tokens[None, :1], folder) for v in TFC_VARIANTS}
    results, lines = [], []
    for threads in args.thread_counts:
        torch.set_num_threads(threads)
        calls, checks = {}, {}
        for context in args.contexts:
            calls[("torch", context)], torch_result = make_torch_decoder(model, tokens, context)
            reference = torch_result()
            for v, obj in objects.items():
                calls[(f"tfc {v}", context)], tfc_result = make_tfc_decoder(obj, tokens, context, threads)
                checks[(f"tfc {v}", context)] = float(np.abs(tfc_result() - reference).max())
        wait_for_quiet(args.max_load, f"decode at {threads} thread(s)")
        times = time_interleaved(calls, args.runs, args.warmup, args.pause)
        log("")
        log(f"GPT-2 small decode, {threads} thread{'s' if threads > 1 else ''} ({load_average()} after):")
        log("  framework        context  ms/token    p10 ms    p90 ms  vs torch  max |logit - torch|")
        for (name, context), t in times.items():
            med = percentile(t, 0.5)
            torch_med = percentile(times[("torch", context)], 0.5)
            err = checks.get((name, context))
            log(f"  {name:<16} {context:>7} {med:9.2f} {percentile(t, 0.1):9.2f} {percentile(t, 0.9):9.2f} "
                f"{torch_med / med:8.2f}x  {'' if err is None else f'{err:.2e}'}")
            results.append({"framework": name, "threads": threads, "context": context, "medianMs": med,
                            "p10Ms": percentile(t, 0.1), "p90Ms": percentile(t, 0.9), "vsTorch": torch_med / med,
                            "maxAbsLogitError": err})
    for obj in objects.values():
        obj.close()
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": mach, "decode": results}, f, indent=2)
        log(f"wrote {args.json_out}")
    return 0


def prepare_cache(cache):
    os.makedirs(cache, exist_ok=True)
    gi = os.path.join(cache, ".gitignore")
    if not os.path.exists(gi):
        with open(gi, "w") as f:
            f.write("# written by scripts/bench_peers.py: nothing here belongs in the repository\n*\n")


def build_model(kind):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, ViTConfig, ViTForImageClassification
    torch.manual_seed(MODEL_SEED[kind])
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config())  # d 768, 12 layers, 12 heads, vocab 50257, 1024 positions
    else:
        config = ViTConfig(image_size=224, patch_size=16, num_labels=1000)  # ViT-B/16 sizes are the defaults
        model = ViTForImageClassification(config)
    return model.eval()


def load_or_build(kind, cache, tfc, need_tir):
    """The model (loaded from the cached checkpoint, so every framework reads the very same
    weights), the checkpoint folder, and the .tir (imported by tfc if missing)."""
    import torch
    import transformers
    from transformers import GPT2LMHeadModel, ViTForImageClassification
    ckpt = os.path.join(cache, kind)
    stamp_path = os.path.join(cache, f"{kind}.stamp.json")
    stamp = {"format": CACHE_FORMAT, "seed": MODEL_SEED[kind], "torch": torch.__version__,
             "transformers": transformers.__version__}
    have = os.path.isfile(os.path.join(ckpt, "model.safetensors")) and os.path.isfile(os.path.join(ckpt, "config.json"))
    if have:
        try:
            with open(stamp_path) as f:
                have = json.load(f) == stamp
        except (OSError, ValueError):
            have = False
    if not have:
        log(f"[{kind}] building the model (seed {MODEL_SEED[kind]}) and saving it to {ckpt}")
        for name in os.listdir(cache):  # everything derived from an older checkpoint
            if name.startswith(kind) and name != kind:
                path = os.path.join(cache, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        shutil.rmtree(ckpt, ignore_errors=True)
        model = build_model(kind)
        model.save_pretrained(ckpt, safe_serialization=True)
        with open(stamp_path, "w") as f:
            json.dump(stamp, f)
    cls = GPT2LMHeadModel if kind == "gpt2" else ViTForImageClassification
    model = cls.from_pretrained(ckpt, dtype=torch.float32).eval()
    tir = os.path.join(cache, f"{kind}.tir")
    if need_tir:  # every time (seconds): the .tir is whatever this tfc's importer writes
        log(f"[{kind}] tfc import {ckpt} -o {tir}")
        run_tfc(tfc, ["import", ckpt, "-o", tir])
    return model, ckpt, tir


def make_input(kind, seq):
    """Batch-1 input as numpy: token ids int64 [1, seq] (GPT-2) or an image float32 [1, 3, 224, 224] (ViT)."""
    import numpy as np
    rng = np.random.default_rng(INPUT_SEED)
    if kind == "gpt2":
        return rng.integers(0, 50257, size=(1, seq), dtype=np.int64)
    return rng.standard_normal((1, 3, 224, 224), dtype=np.float32)


class LogitsOnly:
    """Wraps a transformers model so that it takes one tensor and returns only the logits."""

    @staticmethod
    def make(model, kind):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                if kind == "gpt2":
                    return self.m(input_ids=x, use_cache=False).logits
                return self.m(pixel_values=x).logits

        return Wrapped(model).eval()


def export_onnx(kind, model, example, cache, seq):
    """ONNX file for this model and input shape (static shapes: batch 1, this sequence length)."""
    import torch
    name = f"{kind}-s{seq}" if kind == "gpt2" else kind
    path = os.path.join(cache, f"{name}.opset{ONNX_OPSET}.onnx")
    if os.path.isfile(path):
        return path
    log(f"[{kind}] torch.onnx.export (dynamo, opset {ONNX_OPSET}) -> {path}")
    tmp = tempfile.mkdtemp(dir=cache, prefix=f"{kind}.export.")
    tmp_path = os.path.join(tmp, os.path.basename(path))
    wrapped = LogitsOnly.make(model, kind)
    with torch.inference_mode(False), torch.no_grad():
        prog = torch.onnx.export(wrapped, (torch.from_numpy(example),), dynamo=True, opset_version=ONNX_OPSET,
                                 input_names=["input"], output_names=["logits"], external_data=True,
                                 optimize=True, verify=False)
        prog.save(tmp_path, external_data=True)
    # Move the model and its external data file(s) next to each other into the cache.
    for f in os.listdir(tmp):
        os.replace(os.path.join(tmp, f), os.path.join(cache, f))
    shutil.rmtree(tmp, ignore_errors=True)
    return path


# --------------------------------------------------------------------------------------------
# Peers: each is a callable that runs one forward pass and returns the logits as numpy


def make_torch(model, x_np, threads, bf16=False):
    """PyTorch eager in float32, or (bf16) under torch.autocast("cpu", dtype=torch.bfloat16): the
    float32 model, its matrix products in bf16, as a PyTorch user asks for reduced precision."""
    import torch
    torch.set_num_threads(threads)
    x = torch.from_numpy(x_np)
    wrapped = LogitsOnly.make(model, "gpt2" if x_np.dtype.kind == "i" else "vit")

    if not bf16:
        def call():
            with torch.inference_mode():
                return wrapped(x)

        def result():
            with torch.inference_mode():
                return wrapped(x).numpy().copy()
    else:
        def call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return wrapped(x)

        def result():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return wrapped(x).float().numpy().copy()

    info = {"threads": torch.get_num_threads(), "attn_implementation": model.config._attn_implementation,
            "mkldnn": torch.backends.mkldnn.is_available()}
    if bf16:
        info["autocast"] = "cpu, torch.bfloat16"
        try:
            info["mkldnn_bf16_supported"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:
            pass
    return call, result, info


def make_ort(onnx_path, x_np, threads):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, sess_options=so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    out_meta = sess.get_outputs()[0]
    out = np.empty([int(d) for d in out_meta.shape], dtype=np.float32)
    # Inputs and the output bound once to caller-owned buffers, as tfc's prepared call does.
    io = sess.io_binding()
    io.bind_cpu_input(in_name, x_np)
    io.bind_output(out_meta.name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)

    def call():
        sess.run_with_iobinding(io)
        return out

    def result():
        sess.run_with_iobinding(io)
        return out.copy()

    info = {"threads": threads, "providers": sess.get_providers(),
            "graph_optimization_level": "ORT_ENABLE_ALL"}
    return call, result, info


def ov_type_name(t):
    return getattr(t, "type_name", None) or getattr(t, "get_type_name", lambda: str(t))()


def make_openvino(onnx_path, x_np, threads, f32=True):
    """OpenVINO's CPU plugin, forced to f32 (INFERENCE_PRECISION_HINT f32, refused otherwise) or
    (f32=False) at its default precision hint, whatever it chooses on this CPU (info's
    inference_precision: bf16 with AMX or AVX512_BF16, f32 elsewhere)."""
    import openvino as ov
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if f32:
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(onnx_path, "CPU", config)
    precision = ov_type_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    if f32 and "f32" not in precision and "float32" not in precision:
        raise RuntimeError(f"OpenVINO compiled with inference precision {precision}, not f32")
    req = compiled.create_infer_request()
    inputs = {0: x_np}

    def call():
        req.infer(inputs, share_inputs=True, share_outputs=True)
        return req.get_output_tensor(0).data

    def result():
        req.infer(inputs, share_inputs=True, share_outputs=True)
        return req.get_output_tensor(0).data.copy()

    info = {"threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "inference_precision": precision,
            "num_streams": str(compiled.get_property("NUM_STREAMS")),
            "default_precision_on_this_cpu": ov_type_name(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))}
    return call, result, info


def time_interleaved(calls, runs, warmup, pause):
    """One call of each framework per round; the order rotates every round so that no
    framework always follows the same one. Returns milliseconds per framework."""
    names = list(calls)
    times = {n: [] for n in names}
    for r in range(warmup + runs):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            if pause > 0:
                time.sleep(pause)
            t0 = time.perf_counter_ns()
            calls[n]()
            dt = (time.perf_counter_ns() - t0) / 1e6
            if r >= warmup:
                times[n].append(dt)
    return times


def load_average():
    """The 1-minute load average, to see whether something else ran on the machine meanwhile."""
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load average unknown"


def wait_for_quiet(max_load, what):
    """Waits until the 1-minute load average is below max_load (at most 10 minutes)."""
    if max_load is None:
        return
    deadline = time.time() + 600
    said = False
    while os.getloadavg()[0] >= max_load and time.time() < deadline:
        if not said:
            log(f"  waiting for the load average ({os.getloadavg()[0]:.2f}) to fall below {max_load} before {what}")
            said = True
        time.sleep(5)
    if os.getloadavg()[0] >= max_load:
        log(f"  load average still {os.getloadavg()[0]:.2f} after 10 minutes; timing {what} anyway")


def percentile(values, p):
    """The same nearest-rank percentile as tfc bench (Sources/TFCDriver/Bench.swift)."""
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, int(round((len(s) - 1) * p)))]


def python_flop_count(kind, seq):
    """Matrix work per call, counted like tfc's matmulFlops: 2 flops per multiply-add in the
    linears, the patch embedding and attention (causal attention: (T+1)/2 visible keys per row).
    Only used when tfc is not run; otherwise tfc's own gflopPerCall is used."""
    d, layers, ff = 768, 12, 3072
    block = d * 3 * d + d * d + d * ff + ff * d
    if kind == "gpt2":
        t = seq
        return (layers * (2 * t * block + 4 * t * ((t + 1) / 2) * d) + 2 * t * d * 50257) / 1e9
    t = 197
    return (2 * 196 * (3 * 16 * 16) * d + layers * (2 * t * block + 4 * t * t * d) + 2 * 1 * d * 1000) / 1e9


# --------------------------------------------------------------------------------------------
# Reporting


def add_relative_speeds(rows):
    """--precision bf16/both: vsBestPeer within each row's precision group (the best peer median
    of that group / this median), and vsOpenVINODefault for tfc's bf16 rows (OpenVINO's
    default-precision median / this median)."""
    best = {}
    for r in rows:
        if r["framework"] in PEER_GROUP:
            g = r["precision"]
            best[g] = min(best.get(g, r["medianMs"]), r["medianMs"])
    ov_default = next((r["medianMs"] for r in rows if r["framework"] == "openvino-default"), None)
    for r in rows:
        r["vsBestPeer"] = (best[r["precision"]] / r["medianMs"]) if r["precision"] in best else None
        r["vsOpenVINODefault"] = (ov_default / r["medianMs"]) \
            if ov_default and r["framework"].startswith("tfc") and r["precision"] == "bf16" else None


def fmt_extended(r):
    """The error columns and the ratios of a row, as text (--precision bf16/both)."""
    vs = f"{r['vsBestPeer']:.2f}x" if r["vsBestPeer"] else "-"
    ov = f"{r['vsOpenVINODefault']:.2f}x" if r.get("vsOpenVINODefault") else "-"
    err = f"{r['maxAbsErr']:.2g}" if r.get("maxAbsErr") is not None else "-"
    a = r.get("argmaxAgree")
    agree = f"{a['fraction']:.1%}" if a and a.get("fraction") is not None else "-"
    return vs, err, agree, ov


def table(kind, threads, rows, gflop, runs, gflop_source, extended=False):
    """rows: list of dicts with name, medianMs, p10Ms, p90Ms. Adds gflops and vsBestPeer.
    extended (--precision bf16/both): rows also carry precision, maxAbsErr and argmaxAgree;
    vsBestPeer is per precision group, and tfc's bf16 rows get vsOpenVINODefault."""
    if extended:
        return table_extended(kind, threads, rows, gflop, runs, gflop_source)
    peer_medians = [r["medianMs"] for r in rows if r["framework"] in PEERS]
    best = min(peer_medians) if peer_medians else None
    for r in rows:
        r["gflops"] = gflop / (r["medianMs"] / 1e3)
        r["vsBestPeer"] = (best / r["medianMs"]) if best else None
    lines = [f"{kind}, {threads} thread{'s' if threads != 1 else ''}, {runs} timed calls each; "
             f"{gflop:.2f} GFLOP per call ({gflop_source}); 'vs best peer' = best peer median / this median (> 1: faster)",
             f"  {'framework / variant':<22} {'median ms':>10} {'p10 ms':>9} {'p90 ms':>9} {'GFLOP/s':>8} {'vs best peer':>13}"]
    for i, r in enumerate(rows):
        vs = f"{r['vsBestPeer']:.2f}x" if r["vsBestPeer"] else "-"
        if r["framework"] == "tfc-bench" and (i == 0 or rows[i - 1]["framework"] != "tfc-bench"):
            lines.append("  tfc bench (JIT, its own process, after the rounds above: not interleaved with them):")
        lines.append(f"  {r['name']:<22} {r['medianMs']:>10.1f} {r['p10Ms']:>9.1f} {r['p90Ms']:>9.1f} "
                     f"{r['gflops']:>8.1f} {vs:>13}")
    return "\n".join(lines)


def table_extended(kind, threads, rows, gflop, runs, gflop_source):
    add_relative_speeds(rows)
    for r in rows:
        r["gflops"] = gflop / (r["medianMs"] / 1e3)
    agreements = [r["argmaxAgree"] for r in rows if r.get("argmaxAgree")]
    lines = [f"{kind}, {threads} thread{'s' if threads != 1 else ''}, {runs} timed calls each; "
             f"{gflop:.2f} GFLOP per call ({gflop_source})",
             "  'vs best peer' = the best peer median of the same precision group / this median (> 1: faster); "
             "'vs OV default' = OpenVINO's default-precision median / this median (tfc's bf16 rows); "
             "'group' = the precision group (OpenVINO default's row names the precision it chose);",
             "  'max abs err' = largest |output - float32 PyTorch reference|"
             + (f"; 'argmax' = positions whose argmax equals the reference's, of the "
                f"{agreements[0]['counted']} of {agreements[0]['positions']} whose reference top-2 margin "
                f"exceeds {ARGMAX_MARGIN}" if agreements else ""),
             f"  {'framework / variant':<26} {'group':<5} {'median ms':>10} {'p10 ms':>9} {'p90 ms':>9} {'GFLOP/s':>8} "
             f"{'vs best peer':>13} {'max abs err':>12} {'argmax':>7} {'vs OV default':>14}"]
    for i, r in enumerate(rows):
        vs, err, agree, ov = fmt_extended(r)
        if r["framework"] == "tfc-bench" and (i == 0 or rows[i - 1]["framework"] != "tfc-bench"):
            lines.append("  tfc bench (JIT, its own process, after the rounds above: not interleaved with them; "
                         "outputs not checked here):")
        lines.append(f"  {r['name']:<26} {r['precision']:<5} {r['medianMs']:>10.1f} {r['p10Ms']:>9.1f} "
                     f"{r['p90Ms']:>9.1f} {r['gflops']:>8.1f} {vs:>13} {err:>12} {agree:>7} {ov:>14}")
    return "\n".join(lines)


def markdown_table(kind, threads, rows, extended=False):
    if extended:
        out = [f"| {kind}, {threads} thread{'s' if threads != 1 else ''} | precision group | median ms | p10 ms | p90 ms "
               f"| GFLOP/s | vs best peer (same precision) | max abs err | argmax | vs OpenVINO default |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            vs, err, agree, ov = fmt_extended(r)
            out.append(f"| {r['name']} | {r['precision']} | {r['medianMs']:.1f} | {r['p10Ms']:.1f} | {r['p90Ms']:.1f} "
                       f"| {r['gflops']:.1f} | {vs} | {err} | {agree} | {ov} |")
        return "\n".join(out)
    out = [f"| {kind}, {threads} thread{'s' if threads != 1 else ''} | median ms | p10 ms | p90 ms | GFLOP/s | vs best peer |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        vs = f"{r['vsBestPeer']:.2f}x" if r["vsBestPeer"] else "-"
        out.append(f"| {r['name']} | {r['medianMs']:.1f} | {r['p10Ms']:.1f} | {r['p90Ms']:.1f} | {r['gflops']:.1f} | {vs} |")
    return "\n".join(out)


def check(mres, problems, kind, key, label, d, tolerance, detail, agree=None):
    """Records and prints one output check against PyTorch's; a difference above `tolerance`
    is also a problem of the run. agree: GPT-2's argmax agreement (argmax_agreement), printed."""
    mres["checks"][key] = d
    if agree is not None and agree.get("fraction") is not None:
        detail = (f"argmax agrees at {agree['agree']} of {agree['counted']} positions with a reference "
                  f"top-2 margin > {ARGMAX_MARGIN} ({agree['fraction']:.1%}); {detail}")
    log(f"[{kind}] check: {label} vs the PyTorch reference: max abs diff {d:.3g} ({detail})")
    if not d <= tolerance:
        msg = f"[{kind}] {label}: output differs from PyTorch's by {d:.3g}"
        log("warning: " + msg)
        problems.append(msg)


def argmax_agreement(out, ref, margin=ARGMAX_MARGIN):
    """GPT-2: at how many positions `out`'s argmax over the vocabulary equals the float32
    reference's, counting only positions whose reference top-2 margin exceeds `margin` (where
    the reference itself is nearly tied, a different argmax says nothing about precision)."""
    import numpy as np
    vocab = ref.shape[-1]
    r = np.asarray(ref, dtype=np.float32).reshape(-1, vocab)
    o = np.asarray(out, dtype=np.float32).reshape(-1, vocab) if np.asarray(out).size == r.size else None
    if o is None:
        return {"positions": int(r.shape[0]), "counted": 0, "agree": 0, "fraction": None}
    top2 = np.partition(r, -2, axis=1)[:, -2:]
    counted = (top2[:, 1] - top2[:, 0]) > margin
    same = np.argmax(o, axis=1) == np.argmax(r, axis=1)
    n = int(counted.sum())
    return {"positions": int(r.shape[0]), "counted": n, "agree": int((same & counted).sum()),
            "fraction": float((same & counted).sum() / n) if n else None}


def max_abs_diff(a, b):
    import numpy as np
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)))


# --------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    if args.decode:
        return decode_main(args)
    try:
        import numpy as np
        import torch
        import transformers
    except ImportError as e:
        sys.exit(f"error: {e}; install scripts/requirements-bench.txt into a venv first (PyTorch, transformers "
                 "and numpy are required: they build the models and give the reference output)")

    available = {}
    for fw, mod in [("ort", "onnxruntime"), ("openvino", "openvino"), ("onnx", "onnx"), ("onnxscript", "onnxscript")]:
        try:
            __import__(mod)
            available[fw] = True
        except ImportError as e:
            available[fw] = False
            available[fw + "_error"] = str(e)
    fw = list(args.fw)
    peers = list(args.peers)  # == the peers in fw with --precision fp32
    extended = args.precision != "fp32"  # error columns, precision groups
    if "ort" in fw and "ort" not in peers:
        log("not timing ONNX Runtime: it has no bf16 mode here (only timed with --precision fp32 or both)")
    for f, mod in [("ort", "onnxruntime"), ("openvino", "openvino")]:
        users = [p for p in peers if BF16_PEERS.get(p, p) == f]
        if users and not available[f]:
            log(f"skipping {', '.join(LABELS[p] for p in users)}: cannot import {mod} ({available[f + '_error']}); "
                f"pip install -r scripts/requirements-bench.txt")
            fw = [g for g in fw if g not in users + [f]]
            peers = [p for p in peers if p not in users]
    onnx_peers = [p for p in peers if p in ("ort", "openvino", "openvino-default")]
    if onnx_peers and not (available["onnx"] and available["onnxscript"]):
        missing = [m for m in ("onnx", "onnxscript") if not available[m]]
        log(f"skipping {'ONNX Runtime and OpenVINO' if not extended else ', '.join(LABELS[p] for p in onnx_peers)}: "
            f"torch.onnx.export needs {', '.join(missing)}; pip install -r scripts/requirements-bench.txt")
        fw = [f for f in fw if f not in ("ort", "openvino", "openvino-default")]
        peers = [p for p in peers if p not in onnx_peers]

    try:
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except Exception:
        pass
    tfc = ensure_tfc(os.path.abspath(args.tfc)) if "tfc" in fw else None
    prepare_cache(args.cache)
    mach = machine_info()
    vers = library_versions(tfc)
    log(f"machine: {mach['cpu']}, {mach['logical_cpus']} logical CPUs ({mach['usable_cpus']} usable), "
        f"SIMD {' '.join(mach['simd']) or '-'}; {mach['os']}")
    log("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v))
    log(f"date: {mach['date']}; {load_average()} before starting")
    if not extended:
        log(f"frameworks: {', '.join(fw)}; threads {args.thread_counts}; {args.runs} timed calls after {args.warmup} "
            f"warm-up calls; batch 1, float32")
    else:
        tfc_names = [f"tfc{'' if p == 'fp32' else '-' + p}" for p in args.precisions] if "tfc" in fw else []
        log(f"frameworks: {', '.join(peers + tfc_names)}; threads {args.thread_counts}; {args.runs} timed calls after "
            f"{args.warmup} warm-up calls; batch 1, precision {' and '.join(args.precisions)}")
        if not any(f in mach["simd"] for f in ("avx512_bf16", "amx_bf16")):
            log("note: this CPU has no bf16 instructions (neither AVX512_BF16 nor AMX): the bf16 rows are "
                "emulations (or OpenVINO's f32 fallback), not what a bf16 CPU would do")
    if "tfc" in fw and vers.get("tfc") and "uncommitted" in vers["tfc"]:
        log("note: the working tree has uncommitted changes; the tfc binary may not match HEAD")

    results = {"machine": mach, "versions": vers, "args": {k: v for k, v in vars(args).items()},
               "models": {}}
    markdown = []
    problems = []

    for kind in args.models:
        seq = args.seq if kind == "gpt2" else None
        log("")
        log(f"=== {kind} " + (f"(GPT2LMHeadModel, seq {seq}, full logits)" if kind == "gpt2"
                             else "(ViTForImageClassification, 224x224, patch 16, 1000 labels)"))
        t0 = time.time()
        model, ckpt, tir = load_or_build(kind, args.cache, tfc, "tfc" in fw)
        log(f"[{kind}] model ready ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
            f"attention '{model.config._attn_implementation}', {time.time() - t0:.0f} s)")
        x = make_input(kind, args.seq)
        torch.set_num_threads(max(args.thread_counts))
        with torch.inference_mode():
            ref = LogitsOnly.make(model, kind)(torch.from_numpy(x)).numpy().copy()
        ref_scale = float(np.max(np.abs(ref)))
        # float32 reorderings differ by ~1e-6 here; a mis-exported or mis-imported model by ~1.
        tolerance = 1e-3 * max(1.0, ref_scale)
        # bf16 products (8 significant bits) move the logits by ~1e-2 of their scale: this bound
        # only catches a broken model; the error columns and GPT-2's argmax agreement tell the rest.
        tolerance_bf16 = 0.1 * max(1.0, ref_scale)
        mres = {"seqLen": seq, "referenceMaxAbs": ref_scale, "tolerance": tolerance, "checks": {}, "runs": []}
        if extended:
            mres["toleranceBf16"] = tolerance_bf16
            mres["argmaxAgreement"] = {}
        results["models"][kind] = mres
        log(f"[{kind}] PyTorch reference output {list(ref.shape)}, max |logit| {ref_scale:.4g}")

        onnx_path = None
        if any(p in peers for p in ("ort", "openvino", "openvino-default")):
            try:
                onnx_path = export_onnx(kind, model, x, args.cache, args.seq)
            except Exception as e:
                msg = f"[{kind}] torch.onnx.export failed, skipping ONNX Runtime and OpenVINO: {type(e).__name__}: {e}"
                log(msg)
                problems.append(msg)

        # tfc's pre-ln output on the same input, once.
        gflop = None
        if "tfc" in fw:
            with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
                if kind == "gpt2":
                    inp = os.path.join(tmp, "tokens.npy")
                    np.save(inp, x[0].astype(np.int32))
                    flag = f"tokens={inp}"
                else:
                    inp = os.path.join(tmp, "image.npy")
                    np.save(inp, x[0])
                    flag = f"image={inp}"
                outp = os.path.join(tmp, "out.npy")
                t1 = time.time()
                try:
                    run_tfc(tfc, ["run", tir, "--input", flag, "-o", outp])
                    got = np.load(outp)
                    check(mres, problems, kind, "tfc pre-ln", "tfc pre-ln", max_abs_diff(got, ref), tolerance,
                          f"output {list(got.shape)}, {time.time() - t1:.0f} s")
                except Exception as e:
                    msg = f"[{kind}] tfc run failed: {e}"
                    log(msg)
                    problems.append(msg)

        # tfc's variants as objects (tfc compile), linked and loaded into this process.
        objects = {}
        aot_dir = None
        if "tfc" in fw and "interleaved" in args.tfc_modes:
            aot_dir = tempfile.mkdtemp(dir=args.cache, prefix=f"{kind}.aot.")
            for prec in args.precisions:
                for v in TFC_VARIANTS:
                    t1 = time.time()
                    key = f"tfc {v}" if prec == "fp32" else f"tfc-{prec} {v}"
                    flags = f"--variant {v}" + ("" if prec == "fp32" else f" --precision {prec}")
                    try:
                        objects[key] = TfcObject(tfc, tir, v, kind, x, aot_dir, prec)
                        log(f"[{kind}] tfc compile {flags} + cc -shared: {time.time() - t1:.0f} s")
                    except Exception as e:
                        msg = f"[{kind}] tfc compile {flags} failed, not timed in-process: {e}"
                        log(msg)
                        problems.append(msg)

        for threads in args.thread_counts:
            log(f"[{kind}] {threads} thread(s): preparing")
            calls, infos, labels, groups, errors, agreements = {}, {}, {}, {}, {}, {}
            # One precision group after the other (float32 first): its peers, then tfc's objects.
            candidates = []
            for prec in args.precisions:
                candidates += [f for f in ALL_PEERS if f in peers and PEER_GROUP[f] == prec
                               and (f in ("torch", "torch-bf16") or onnx_path is not None)]
                candidates += [k for k, obj in objects.items() if obj.precision == prec]
            for f in candidates:
                label = LABELS.get(f, f)
                group = PEER_GROUP[f] if f in PEER_GROUP else objects[f].precision
                try:
                    t1 = time.time()
                    if f in ("torch", "torch-bf16"):
                        call, result, info = make_torch(model, x, threads, bf16=f == "torch-bf16")
                    elif f == "ort":
                        call, result, info = make_ort(onnx_path, x, threads)
                    elif f in ("openvino", "openvino-default"):
                        call, result, info = make_openvino(onnx_path, x, threads, f32=f == "openvino")
                        if f == "openvino-default":
                            label = f"{label} ({info['inference_precision']})"
                            log(f"[{kind}] OpenVINO at its default precision hint ({threads} threads): the compiled "
                                f"model's INFERENCE_PRECISION_HINT is {info['inference_precision']} (the CPU "
                                f"plugin's default here: {info['default_precision_on_this_cpu']})")
                    else:
                        obj = objects[f]
                        call, result = obj.bind(threads)
                        info = dict(obj.info, threads=threads)
                    info["setupSeconds"] = round(time.time() - t1, 1)
                    settings = json.dumps({k: v for k, v in info.items() if k != "setupSeconds"})
                    out = result()
                    err = max_abs_diff(out, ref)
                    agree = argmax_agreement(out, ref) if extended and kind == "gpt2" else None
                    if agree is not None:
                        mres["argmaxAgreement"][f"{f} ({threads} threads)"] = agree
                    check(mres, problems, kind, f"{f} ({threads} threads)", f"{label} ({threads} threads)",
                          err, tolerance if group == "fp32" else tolerance_bf16,
                          f"setup {info['setupSeconds']} s; {settings}", agree)
                    calls[f], infos[f], labels[f] = call, info, label
                    groups[f], errors[f], agreements[f] = group, err, agree
                except Exception as e:
                    msg = f"[{kind}] {label} ({threads} threads) failed, skipped: {type(e).__name__}: {e}"
                    log(msg)
                    problems.append(msg)
            rows = []
            if calls:
                log(f"[{kind}] {threads} thread(s): timing {', '.join(labels.values())} interleaved, "
                    f"{args.warmup} + {args.runs} rounds")
                wait_for_quiet(args.max_load, "the interleaved rounds")
                t1 = time.time()
                times = time_interleaved(calls, args.runs, args.warmup, args.pause)
                log(f"[{kind}] {threads} thread(s): timed in {time.time() - t1:.0f} s; {load_average()}")
                for f in calls:
                    rows.append({"framework": "tfc" if f.startswith("tfc") else f, "name": labels[f],
                                 "medianMs": statistics.median(times[f]),
                                 "p10Ms": percentile(times[f], 0.1), "p90Ms": percentile(times[f], 0.9),
                                 "timesMs": times[f], "info": infos[f]})
                    if extended:
                        rows[-1].update({"precision": groups[f], "maxAbsErr": errors[f],
                                         "argmaxAgree": agreements[f]})
            calls.clear()
            import gc
            gc.collect()

            tfc_report = None
            if "tfc" in fw and "bench" in args.tfc_modes:
                if not extended:
                    log(f"[{kind}] {threads} thread(s): tfc bench --threads {threads} --runs {args.runs} "
                        f"--warmup {args.warmup} (JIT-compiles 3 variants first)")
                else:
                    log(f"[{kind}] {threads} thread(s): tfc bench --threads {threads} --runs {args.runs} "
                        f"--warmup {args.warmup} --precision {','.join(args.precisions)} (JIT-compiles "
                        f"{3 * len(args.precisions)} configurations first)")
                wait_for_quiet(args.max_load, "tfc bench")
                try:
                    tfc_report = tfc_bench(tfc, tir, seq, threads, args.runs, args.warmup, args.precisions)
                    gflop = tfc_report["gflopPerCall"]
                    log(f"[{kind}] {threads} thread(s): tfc bench done in {tfc_report['wallSeconds']:.0f} s; {load_average()}")
                    for r in tfc_report["rows"]:
                        prec = r.get("precision", "fp32")  # older tfc binaries: no precision field, fp32
                        name = f"tfc bench {r['variant']}" if prec == "fp32" else f"tfc-{prec} bench {r['variant']}"
                        rows.append({"framework": "tfc-bench", "name": name,
                                     "medianMs": r["medianMs"], "p10Ms": r["p10Ms"], "p90Ms": r["p90Ms"],
                                     "info": {"normsMs": r["normsMs"], "speedupVsPreLN": r["speedup"],
                                              "tfcGflops": r["gflops"]}})
                        if extended:
                            # tfc bench's speedup is against pre-ln at its first precision.
                            rows[-1].update({"precision": prec, "maxAbsErr": None, "argmaxAgree": None})
                            rows[-1]["info"]["precision"] = prec
                    if extended and "bf16" in args.precisions and \
                            "bf16" not in tfc_report.get("precisions", [r.get("precision") for r in tfc_report["rows"]]):
                        raise RuntimeError("tfc bench --precision: no bf16 rows in its report (is the tfc binary too old?)")
                except Exception as e:
                    msg = f"[{kind}] tfc bench ({threads} threads) failed: {e}"
                    log(msg)
                    problems.append(msg)
            gflop_source = "tfc's count"
            if gflop is None:
                gflop = python_flop_count(kind, args.seq)
                gflop_source = "counted as tfc counts it"
            if not rows:
                continue
            log("")
            log(table(kind, threads, rows, gflop, args.runs, gflop_source, extended))
            if tfc_report:
                norms = ", ".join(f"{r['variant']}{' ' + r['precision'] if extended and 'precision' in r else ''} "
                                  f"{r['normsMs']:.2f}" for r in tfc_report["rows"])
                log(f"  tfc bench, norms alone (median ms): {norms}")
                peak = tfc_report.get("peakGflops")
                if peak:
                    shares = ", ".join(f"{r['name']} {gflop * 1e3 / r['medianMs'] / peak:.0%}"
                                       for r in rows if r["framework"] != "tfc-bench")
                    log(f"  fp32 FMA peak on {threads} thread(s), measured by tfc bench: {peak:.1f} GFLOP/s; "
                        f"share of it: {shares}")
            log("")
            markdown.append(markdown_table(kind, threads, rows, extended))
            mres["runs"].append({"threads": threads, "gflopPerCall": gflop, "rows": rows, "tfc": tfc_report})
        for obj in objects.values():
            obj.close()
        objects.clear()
        if aot_dir:
            shutil.rmtree(aot_dir, ignore_errors=True)
        mres["gflopPerCall"] = gflop
        del model

    results["problems"] = problems
    results["markdown"] = "\n\n".join(markdown)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2, default=str)
        log(f"wrote {args.json_out}")
    if problems:
        log("problems:")
        for p in problems:
            log(f"  - {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
