"""serverlib: a running `ingot serve` for the server tests: picks a free loopback port,
starts the server with the given arguments, waits until /health answers 200, and stops
it with SIGTERM (returning the exit status, -9 if it had to be killed)."""
import signal
import socket
import subprocess
import time

import requests


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, ingot, args, log):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(log, "w")
        self.p = subprocess.Popen([ingot, "serve", "--port", str(self.port)] + args, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        deadline = time.time() + 120
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
