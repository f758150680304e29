"""A minimal QMP client over a unix socket (stdlib only), with bounded waits."""

import json
import socket
import time

__all__ = ["QMP", "QMPError", "QMPTimeout"]


class QMPError(Exception):
    """QEMU answered a command with an error."""


class QMPTimeout(Exception):
    """QEMU did not answer within the bound: for a hung main loop this is the verdict."""


class QMP:
    """One QMP session; `cmd()` returns the command's `return` value."""

    def __init__(self, path, connect_timeout=10.0):
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QMPTimeout(f"no QMP socket at {path}")
                time.sleep(0.02)
        self.buf = b""
        self.events = []
        self._read(5.0)                       # greeting
        self.cmd("qmp_capabilities")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("QMP did not answer")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QMPTimeout("QMP did not answer") from None
            if not chunk:
                raise QMPTimeout("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, timeout=5.0, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(max(0.0, deadline - time.monotonic()))
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QMPError(f"{name}: {reply['error'].get('desc')}")
            return reply.get("return")

    def hmp(self, line, timeout=5.0):
        return self.cmd("human-monitor-command", timeout=timeout, **{"command-line": line})

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
