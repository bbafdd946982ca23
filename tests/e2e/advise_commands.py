#!/usr/bin/env python3
"""advise_commands: `ingot advise --model <SmolLM2 GGUF>` on this machine prints commands
that work, and a decode estimate that the measured `ingot bench` figure does not exceed (the
estimate is a best case: the best of three probes counts).

Runs the advised `ingot generate` (shortened with -n 16) and `ingot bench` (shortened to
-p 64 -n 32, one repetition) commands exactly as printed otherwise, and starts the advised
`ingot serve` line on a free port until /v1/models answers. Skips (exit 77) without the
model package. Usage: advise_commands.py INGOT_BINARY
"""
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ingot = os.path.abspath(sys.argv[1])
    r = subprocess.run(["sh", os.path.join(REPO, "scripts", "model_path.sh")], capture_output=True, text=True)
    model = r.stdout.strip()
    if r.returncode != 0 or not os.path.exists(model):
        print("SKIP: the default model package is not installed")
        return 77
    out = subprocess.run([ingot, "advise", "--model", model, "--json"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        print("FAIL: ingot advise:", out.stderr)
        return 1
    adv = json.loads(out.stdout)
    cmds = adv["commands"]
    est = adv["plan"]["decode_tps_upper_bound"]
    fails = 0

    def argv(cmd, extra):
        a = shlex.split(cmd)
        assert a[0] == "ingot"
        a = [ingot] + a[1:]
        for k, v in extra.items():  # shorten the run, keep everything else as advised
            if k in a:
                a[a.index(k) + 1] = v
            else:
                a += [k, v]
        return a

    gen = next(c for c in cmds if c.startswith("ingot generate"))
    g = subprocess.run(argv(gen, {"-n": "16"}), capture_output=True, text=True, timeout=300)
    ok = g.returncode == 0 and g.stdout.startswith("Once upon a time") and len(g.stdout) > len("Once upon a time") + 10
    print(("PASS" if ok else "FAIL") + " advised generate: %r" % g.stdout[:120])
    fails += not ok

    bench = next(c for c in cmds if c.startswith("ingot bench"))
    b = subprocess.run(argv(bench, {"-p": "64", "-n": "32", "--reps": "1"}) + ["--json"], capture_output=True,
                       text=True, timeout=600)
    if b.returncode != 0:
        print("FAIL advised bench:", b.stderr[-300:])
        fails += 1
    else:
        tg = json.loads(b.stdout.strip().splitlines()[-1])["tg_tps"]
        # the bound is a best case: take the best of this and two more probes, after the bench
        for _ in range(2):
            again = subprocess.run([ingot, "advise", "--model", model, "--json"], capture_output=True, text=True,
                                   timeout=120)
            if again.returncode == 0:
                est = max(est, json.loads(again.stdout)["plan"]["decode_tps_upper_bound"])
        ok = tg <= est
        print(("PASS" if ok else "FAIL") + " measured decode %.1f tok/s <= advised upper bound %.1f tok/s" % (tg, est))
        fails += not ok

    serve = next(c for c in cmds if c.startswith("ingot serve"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen(argv(serve, {"--port": str(port)}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = False
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % port, timeout=2) as resp:
                    ok = resp.status == 200 and bool(json.loads(resp.read())["data"])
                if ok:  # the server listens before its models finish loading
                    break
            except OSError:
                pass
            time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(timeout=60)
    print(("PASS" if ok else "FAIL") + " advised serve answers /v1/models")
    fails += not ok
    print("%d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
