"""Start the workers of a multi-worker training run on this host, each a process with its
own TF_CONFIG naming the cluster and its task (core/distribute.py trains them as one run):

    python launch_workers.py --workers 2 main.py --distribute multi_worker --max_steps 100
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

from utils import UserError, run_cli


def local_cluster(workers):
    """TF_CONFIG values for `workers` processes on this host, on ports the OS says are free."""
    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(workers)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="start the workers of a multi-worker run on this host",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="worker processes, each a task of TF_CONFIG")
    p.add_argument("script", help="main.py or train_encoder.py")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="its flags, with --distribute multi_worker")
    return p.parse_args(argv)


def main(args):
    """Run `workers` copies of the script, each with its TF_CONFIG; the exit code is the
    worst. A worker that fails stops the others (they would wait for it forever)."""
    if "multi_worker" not in args.script_args:
        raise UserError("pass the script --distribute multi_worker, or its copies train alone")
    workers = [subprocess.Popen([sys.executable, args.script, *args.script_args], env=dict(os.environ, TF_CONFIG=c))
               for c in local_cluster(args.workers)]
    while any(w.poll() is None for w in workers):
        if any(w.returncode for w in workers):
            for w in workers:
                if w.poll() is None:
                    w.terminate()
        time.sleep(0.5)
    return max(w.returncode for w in workers)


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args))
