#!/usr/bin/env python3
"""Tagging-shaped throughput of llama-server on synthetic Qwen3-VL models (standard library only).

For each model and slot count: start llama-server as the imagefleet worker does (-np N,
-c N x the worker's context per slot, every layer on the GPU, one context per slot), send the
tagging request the worker sends (a prepared photo as a data URL, the tagging prompt, its JSON
schema as response_format) from N client threads, streamed, and measure images/s, prompt and
completion tokens/s, time to first token, and peak memory: the GPU's from nvidia-smi (sampled
every 0.2 s, less the memory in use before the server started), else the server's peak RSS.
Beside it stands what imagefleet's planner predicted for the same run (spec.json). Writes one
JSON file and a Markdown table.

The weights are random (synthetic_gguf.py), so the answers are noise; their length is capped
(--max-tokens, default 128 answer tokens) so that every run generates about as much as a real
tagging answer.

    python3 bench.py --server llama-server --models qwen3-vl-4b:q4_0,qwen3-vl-4b:q8_0 --slots 1,4,8,16,32 --out DIR
"""
import argparse
import base64
import datetime
import glob
import json
import os
import platform
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synthetic_gguf  # noqa: E402

MiB = 1024 * 1024


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gpu_info(index):
    """(name, total MiB, used MiB) of one GPU from nvidia-smi, or None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "-i", str(index), "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return None
    name, total, used = [part.strip() for part in out.split(",")]
    return name, int(total), int(used)


class MemorySampler(threading.Thread):
    """Peak GPU memory in use (nvidia-smi, MiB) while it runs."""

    def __init__(self, index):
        super().__init__(daemon=True)
        self.index = index
        self.peak = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            info = gpu_info(self.index)
            if info:
                self.peak = max(self.peak, info[2])
            self.stopped.wait(0.2)

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak


def proc_memory(pid):
    """(VmRSS, VmHWM) of a process in bytes."""
    values = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def request_body(task, image, max_tokens, seed):
    return {
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + image}},
            {"type": "text", "text": task["prompt"]},
        ]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "result", "strict": True, "schema": task["schema"]}},
        "max_tokens": max_tokens,
        "seed": seed,
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def stream_completion(url, body, timeout):
    """One streamed chat completion: (time to first token, total seconds, prompt tokens, completion tokens)."""
    started = time.perf_counter()
    data = json.dumps(body).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=data, headers={"content-type": "application/json"})
    first = None
    usage = {}
    with urllib.request.urlopen(req, timeout=timeout) as response:
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            event = json.loads(payload)
            for choice in event.get("choices") or []:
                if first is None and (choice.get("delta") or {}).get("content"):
                    first = time.perf_counter() - started
            if event.get("usage"):
                usage = event["usage"]
    total = time.perf_counter() - started
    return (first if first is not None else total), total, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def start_server(args, model, mmproj, slots, context_per_slot, port, log_path):
    command = [
        args.server, "--model", model, "--mmproj", mmproj, "--parallel", str(slots), "--ctx-size", str(slots * context_per_slot),
        "--n-gpu-layers", str(args.gpu_layers), "--host", "127.0.0.1", "--port", str(port), "--no-webui", "--no-kv-unified",
        "--verbosity", "4",
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    log = open(log_path, "w")
    env = dict(os.environ)
    if args.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log


def wait_healthy(url, process, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def run_one(args, spec, key, model, mmproj, slots, images, out_dir):
    entry = spec["models"][key]
    context_per_slot = entry["contextPerSlot"]
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log_path = os.path.join(out_dir, "llama-server-%s-%d.log" % (key.replace(":", "-"), slots))
    gpu_before = gpu_info(args.gpu or 0) if args.gpu_layers > 0 else None
    sampler = MemorySampler(args.gpu or 0) if gpu_before else None
    if sampler:
        sampler.start()
    process, log = start_server(args, model, mmproj, slots, context_per_slot, port, log_path)
    row = {"model": key, "slots": slots, "contextPerSlot": context_per_slot, "predictedBytes": entry["bySlots"].get(str(slots), {}).get("total")}
    try:
        started = time.perf_counter()
        if not wait_healthy(url, process, args.load_timeout):
            with open(log_path) as handle:
                tail = handle.read()[-1500:]
            row["error"] = "llama-server did not start: " + tail.replace("\n", " | ")
            return row
        row["loadSeconds"] = round(time.perf_counter() - started, 2)
        if gpu_before:
            row["gpuAfterLoadMiB"] = gpu_info(args.gpu or 0)[2] - gpu_before[2]
        else:
            row["rssAfterLoadBytes"] = proc_memory(process.pid)[0]
        # One request first, not counted: the first image pays one-time costs (CUDA graphs, allocations).
        stream_completion(url, request_body(spec["task"], images[0], args.max_tokens, 0), args.request_timeout)

        count = max(args.min_requests, slots * args.requests_per_slot)
        work = queue.Queue()
        for index in range(count):
            work.put(index)
        results, errors = [], []
        lock = threading.Lock()

        def client():
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = stream_completion(url, request_body(spec["task"], images[index % len(images)], args.max_tokens, index + 1), args.request_timeout)
                    with lock:
                        results.append(result)
                except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errors.append(str(error))

        begin = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(slots)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - begin
        ttft = [result[0] for result in results]
        latency = [result[1] for result in results]
        prompt = sum(result[2] for result in results)
        completion = sum(result[3] for result in results)
        row.update({
            "requests": len(results), "errors": len(errors), "firstError": errors[0] if errors else None, "seconds": round(wall, 2),
            "imagesPerSecond": round(len(results) / wall, 3), "promptTokensPerSecond": round(prompt / wall, 1),
            "completionTokensPerSecond": round(completion / wall, 1), "meanPromptTokens": round(prompt / max(1, len(results)), 1),
            "meanCompletionTokens": round(completion / max(1, len(results)), 1),
            "ttftP50": round(statistics.median(ttft), 3) if ttft else None, "ttftP95": round(percentile(ttft, 0.95), 3),
            "latencyP50": round(statistics.median(latency), 3) if latency else None, "latencyP95": round(percentile(latency, 0.95), 3),
        })
        if not gpu_before:
            row["peakRssBytes"] = proc_memory(process.pid)[1]
        return row
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if sampler:
            peak = sampler.stop()
            row["gpuPeakMiB"] = peak - gpu_before[2]
        with open(log_path) as handle:
            row["reported"] = reported_buffers(handle.read())


def reported_buffers(log):
    """llama.cpp's own figures from its log (MiB): model, KV, compute buffers; projector size and compute."""
    import re

    def total(pattern):
        return round(sum(float(match) for match in re.findall(pattern, log)), 2)

    return {
        "weights": total(r"load_tensors:\s+(?!CPU_REPACK)\S+ model buffer size =\s+([\d.]+) MiB"),
        "kv": total(r"llama_kv_cache:\s+\S+ KV buffer size =\s+([\d.]+) MiB"),
        "compute": total(r"(?:sched_reserve|llama_context):\s+\S+ +(?:compute|output) buffer size =\s+([\d.]+) MiB"),
        "projector": total(r"load_hparams: model size:\s+([\d.]+) MiB"),
        "projectorCompute": total(r"reserve_compute_meta:\s+\S+ compute buffer size =\s+([\d.]+) MiB"),
    }


def mib(value):
    return "-" if value is None else "%.0f" % (value / MiB)


def markdown(result):
    device = result["device"]
    lines = [
        "%s, llama-server %s, %s. Random weights (answers are noise), answers capped at %d tokens; tagging prompt + one %d px photo per request; "
        "one client thread per slot; time to first token includes the image encode." % (
            device, result["server"], result["date"], result["maxTokens"], result["maxSide"]),
        "",
        "| Model | Slots | Images/s | Prompt tok/s | Answer tok/s | TTFT p50 / p95 (s) | Latency p50 (s) | Peak memory (MiB) | Planner predicted (MiB) | Errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        if row.get("error"):
            lines.append("| %s | %d | failed: %s |  |  |  |  |  |  |  |" % (row["model"], row["slots"], row["error"][:120]))
            continue
        peak = row.get("gpuPeakMiB")
        peak_text = str(peak) if peak is not None else mib(row.get("peakRssBytes"))
        lines.append("| %s | %d | %.2f | %.0f | %.0f | %.2f / %.2f | %.2f | %s | %s | %d |" % (
            row["model"], row["slots"], row["imagesPerSecond"], row["promptTokensPerSecond"], row["completionTokensPerSecond"],
            row["ttftP50"] or 0, row["ttftP95"] or 0, row["latencyP50"] or 0, peak_text, mib(row.get("predictedBytes")), row["errors"]))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="llama-server binary")
    parser.add_argument("--spec", default=os.path.join(HERE, "spec.json"))
    parser.add_argument("--models", default="qwen3-vl-4b:q4_0,qwen3-vl-4b:q8_0", help="like:type,... (from spec.json)")
    parser.add_argument("--slots", default="1,4,8,16,32")
    parser.add_argument("--models-dir", required=True, help="where the synthetic models are (generated when missing)")
    parser.add_argument("--out", required=True, help="directory for results.json, results.md and the server logs")
    parser.add_argument("--images", default=os.path.join(HERE, "images"))
    parser.add_argument("--gpu-layers", type=int, default=999, help="999: every layer on the GPU; 0: CPU")
    parser.add_argument("--gpu", type=int, default=None, help="GPU index (CUDA_VISIBLE_DEVICES for the server)")
    parser.add_argument("--threads", type=int, default=0, help="llama-server --threads (0: its default)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--requests-per-slot", type=int, default=4)
    parser.add_argument("--min-requests", type=int, default=16)
    parser.add_argument("--load-timeout", type=float, default=900)
    parser.add_argument("--request-timeout", type=float, default=1800)
    args = parser.parse_args()

    with open(args.spec) as handle:
        spec = json.load(handle)
    images = [base64.b64encode(open(path, "rb").read()).decode() for path in sorted(glob.glob(os.path.join(args.images, "*.jpg")))]
    if not images:
        raise SystemExit("no .jpg images in %s" % args.images)
    os.makedirs(args.out, exist_ok=True)
    gpu = gpu_info(args.gpu or 0) if args.gpu_layers > 0 else None
    version = subprocess.run([args.server, "--version"], capture_output=True, text=True).stderr.strip().splitlines()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": ("%s (%d MiB)" % (gpu[0], gpu[1])) if gpu else "CPU (%s, %d cores)" % (platform.processor() or platform.machine(), os.cpu_count() or 0),
        "server": next((line for line in version if "version" in line), "?"),
        "maxTokens": args.max_tokens, "maxSide": spec["task"]["maxSide"], "gpuLayers": args.gpu_layers, "rows": [],
    }
    for key in args.models.split(","):
        like, kind = key.split(":")
        if key not in spec["models"]:
            raise SystemExit("%s is not in %s (models: %s)" % (key, args.spec, ", ".join(spec["models"])))
        model, mmproj = synthetic_gguf.make_pair(spec, like, kind, args.models_dir)
        for slots in [int(value) for value in args.slots.split(",")]:
            print("%s, %d slot(s) ..." % (key, slots), file=sys.stderr, flush=True)
            row = run_one(args, spec, key, model, mmproj, slots, images, args.out)
            print("  " + json.dumps({k: row.get(k) for k in ("imagesPerSecond", "completionTokensPerSecond", "ttftP50", "gpuPeakMiB", "peakRssBytes", "errors", "error")}), file=sys.stderr, flush=True)
            result["rows"].append(row)
            with open(os.path.join(args.out, "results.json"), "w") as handle:
                json.dump(result, handle, indent=2)
    table = markdown(result)
    with open(os.path.join(args.out, "results.md"), "w") as handle:
        handle.write(table)
    print(table)


if __name__ == "__main__":
    main()
