"""The harness's QMP session (harness/qemu.py, on qemu.qmp): bounded waits, errors, and the
kill by PID, against a scripted QMP server (no QEMU needed)."""

import json
import socket
import subprocess
import threading
import time

import pytest

from harness.qemu import QMPClosed, QMPError, QMPSession, QMPTimeout, Qemu

GREETING = {"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 2}, "package": ""},
                    "capabilities": []}}
ANSWERS = {"qmp_capabilities": {"return": {}},
           "query-status": {"return": {"status": "running", "running": True}},
           "nope": {"error": {"class": "CommandNotFound", "desc": "The command nope has not "
                                                                  "been found"}}}


class Server:
    """A one-client QMP server on a unix socket: it greets, answers `ANSWERS`, never answers
    `hang`, hangs up on `close`, and records every command it was sent."""

    def __init__(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.commands = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.listener.accept()
        conn.sendall(json.dumps(GREETING).encode() + b"\n")
        for msg in _messages(conn):
            self.commands.append(msg["execute"])
            if msg["execute"] == "close":
                break
            if msg["execute"] in ANSWERS:      # the handshake comes with no id
                reply = {**ANSWERS[msg["execute"]], **({"id": msg["id"]} if "id" in msg else {})}
                conn.sendall(json.dumps(reply).encode() + b"\n")
        conn.close()


def _messages(conn):
    """The JSON objects a client sends, as QEMU reads them: one after another, no separator
    needed."""
    decoder, text = json.JSONDecoder(), ""
    while chunk := conn.recv(65536):
        text += chunk.decode()
        while text.strip():
            try:
                msg, end = decoder.raw_decode(text.lstrip())
            except json.JSONDecodeError:
                break                          # the rest of this object is still on its way
            text = text.lstrip()[end:]
            yield msg


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "q.qmp"
    server = Server(path)
    session = QMPSession(path, "test", timeout=5.0)
    yield server, session
    session.close()


def test_a_command_returns_its_value(served):
    """`cmd` gives the command's `return` value, after the capabilities handshake."""
    server, session = served
    assert session.cmd("query-status")["status"] == "running"
    assert server.commands == ["qmp_capabilities", "query-status"]


def test_a_refused_command_raises_qmp_error(served):
    """QEMU's error answer becomes QMPError naming the command and QEMU's words."""
    _, session = served
    with pytest.raises(QMPError, match="nope: The command nope has not been found"):
        session.cmd("nope")
    assert not session.silent


def test_a_command_with_no_answer_times_out_and_silences_the_session(served):
    """A command QEMU never answers raises QMPTimeout at its bound, and the session is silent."""
    _, session = served
    start = time.monotonic()
    with pytest.raises(QMPTimeout, match="did not answer"):
        session.cmd("hang", timeout=0.3)
    assert time.monotonic() - start < 2.0 and session.silent


def test_a_closed_connection_is_a_timeout(served):
    """A QEMU that hangs up mid-command gives QMPClosed: a QMPTimeout, as a hang gives, that
    the P2 harness can tell from one (a QEMU gone is no hang)."""
    _, session = served
    with pytest.raises(QMPClosed, match="closed"):
        session.cmd("close", timeout=2.0)


def test_no_socket_times_out(tmp_path):
    """With no QMP socket, the session gives up at its bound with QMPTimeout."""
    start = time.monotonic()
    with pytest.raises(QMPTimeout, match="no QMP session"):
        QMPSession(tmp_path / "missing.qmp", "test", timeout=0.3)
    assert time.monotonic() - start < 2.0


def test_stop_kills_by_pid_and_sends_no_quit_when_qmp_went_silent(served, tmp_path):
    """`Qemu.stop` with a silent session sends no `quit` and SIGKILLs the process by PID."""
    server, session = served
    with pytest.raises(QMPTimeout):
        session.cmd("hang", timeout=0.2)
    q = Qemu.__new__(Qemu)                   # a stand-in process: `sleep` ignores QMP
    q.proc = subprocess.Popen(["sleep", "60"])
    q.qmp, q.stderr = session, open(tmp_path / "stderr", "wb")
    q.stop(grace=0.2)
    assert q.proc.returncode == -9 and "quit" not in server.commands
