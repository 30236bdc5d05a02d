#!/usr/bin/env python3
"""Times `perceptd serve` the way systemd sees it: start to READY=1 on a real notify socket,
and SIGTERM to exit (drain), with every example pipeline of pipelines/examples in one folder.

    PERCEPTD_ASSETS=../shared/assets python3 deploy/serve_timings.py [--runs 5] [--after 2] [--only NAME ...]

Needs a release build (target/release/perceptd) and the setup's ONNX Runtime library. Prints
each run and the medians. Outputs go to a temporary folder that is removed afterwards.
"""

import argparse
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(binary, examples, after, env):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="perceptd-timings-"))
    try:
        conf = tmp / "conf"
        conf.mkdir()
        for f in examples:
            shutil.copy(f, conf / f.name)
        (conf / "perceptd.yaml").write_text(
            f"http:\n  address: 127.0.0.1:{free_port()}\nshutdown:\n  drain_timeout_s: 60\n"
        )
        sock_path = str(tmp / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(0.05)
        e = dict(env, NOTIFY_SOCKET=sock_path, PERCEPTD_OUT=str(tmp / "out"), RUST_LOG="warn")
        log = open(tmp / "serve.log", "w")
        t0 = time.monotonic()
        p = subprocess.Popen([binary, "serve", "--config-dir", str(conf)], env=e,
                             stdout=subprocess.DEVNULL, stderr=log)
        ready = None
        status = ""
        while ready is None and time.monotonic() - t0 < 300:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                if p.poll() is not None:
                    break
                continue
            if "READY=1" in msg:
                ready = time.monotonic() - t0
                status = next((l for l in msg.splitlines() if l.startswith("STATUS=")), "")
        if ready is None:
            p.kill()
            sys.exit(f"no READY=1 (exit {p.poll()}); log:\n{(tmp / 'serve.log').read_text()}")
        time.sleep(after)
        t1 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=120)
        drain = time.monotonic() - t1
        if code != 0:
            sys.exit(f"exit {code} after SIGTERM; log:\n{(tmp / 'serve.log').read_text()}")
        return ready, drain, status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--after", type=float, default=2.0, help="seconds between READY=1 and SIGTERM")
    ap.add_argument("--binary", default=str(REPO / "target/release/perceptd"))
    ap.add_argument("--only", nargs="+", metavar="NAME", help="example pipelines to use (file stems)")
    a = ap.parse_args()
    if not os.environ.get("PERCEPTD_ASSETS"):
        sys.exit("set PERCEPTD_ASSETS to the shared assets folder (see README)")
    env = dict(os.environ)
    env.setdefault("ORT_DYLIB_PATH", "/opt/perceptd/lib/libonnxruntime.so")
    examples = sorted((REPO / "pipelines/examples").glob("*.yaml"))
    if a.only:
        missing = set(a.only) - {f.stem for f in examples}
        if missing:
            sys.exit(f"no example pipeline {', '.join(sorted(missing))}; see pipelines/examples")
        examples = [f for f in examples if f.stem in a.only]
    print(f"{len(examples)} pipelines: {', '.join(f.stem for f in examples)}")
    readies, drains = [], []
    for i in range(a.runs):
        r, d, status = one_run(a.binary, examples, a.after, env)
        readies.append(r)
        drains.append(d)
        print(f"run {i + 1}: start -> READY=1 {r:.3f} s, SIGTERM -> exit {d:.3f} s  ({status})")
    print(f"median of {a.runs}: start -> READY=1 {statistics.median(readies):.3f} s, "
          f"SIGTERM -> exit {statistics.median(drains):.3f} s")


if __name__ == "__main__":
    main()
