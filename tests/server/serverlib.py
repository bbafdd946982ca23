"""serverlib: a running `ingot serve` for the server tests: starts the server on port 0 (the
kernel picks a free one: no race with tests running beside it), reads the port from its
"listening on" line, waits until /health answers 200, and stops it with SIGTERM (returning
the exit status, -9 if it had to be killed)."""
import re
import signal
import subprocess
import time

import requests


class Server:
    def __init__(self, ingot, args, log):
        self.log = open(log, "w")
        self.p = subprocess.Popen([ingot, "serve", "--port", "0"] + args, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        self.port = None
        while self.port is None and time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("server exited with %d (log %s)" % (self.p.returncode, log))
            with open(log) as f:
                m = re.search(r"listening on http://\S+:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("server printed no port (log %s)" % log)
        self.url = "http://127.0.0.1:%d" % self.port
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("server exited with %d (log %s)" % (self.p.returncode, log))
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                return -9
        return self.p.returncode
