"""Worker processes that never outlive the run: results in order, and on any exception
in the parent (SIGINT, SIGTERM, a bound) every worker is killed before it propagates.

Each worker is a forked process with a pipe of its own; the parent hands it one item at
a time. (multiprocessing.Pool shares one task queue behind a lock: a worker that dies
holding it makes Pool.terminate() wait for ever.) A worker ignores SIGINT (a terminal's
Ctrl-C reaches the whole process group; the parent decides) and asks the kernel for
SIGTERM should its parent die without ending it (Linux PR_SET_PDEATHSIG), so that not
even a SIGKILL of the parent leaves one running. An exception in a worker, even a
BaseException, comes back to the parent and is raised there; a worker that dies is
reported, never waited for.
"""

import ctypes
import multiprocessing
import os
import pickle
import signal
import traceback
from multiprocessing.connection import wait
from typing import Callable, Optional

__all__ = ["WorkerDied", "run_ordered"]

PR_SET_PDEATHSIG = 1


class WorkerDied(RuntimeError):
    """A worker process ended without giving back its item's result."""


def run_ordered(fn: Callable, items, jobs: int, on_result: Optional[Callable] = None,
                initializer: Optional[Callable] = None, initargs: tuple = ()) -> list:
    """[fn(item) for item in items] on `jobs` processes, in order; `on_result` sees each
    result as soon as it and those before it are done."""
    items = list(items)
    workers = [_start(fn, initializer, initargs) for _ in range(min(jobs, len(items)))]
    done, given, results = {}, iter(enumerate(items)), []
    try:
        busy = {w: _give(w, given) for w in workers}
        while len(results) < len(items):
            for conn in wait([w.conn for w in busy if busy[w] is not None]):
                worker = next(w for w in busy if w.conn is conn)
                done[busy[worker]] = _take(worker, busy[worker])
                busy[worker] = _give(worker, given)
            while len(results) in done:
                results.append(done.pop(len(results)))
                if on_result:
                    on_result(results[-1])
    finally:
        for worker in workers:
            _end(worker)
    return results


def _start(fn, initializer, initargs):
    ctx = multiprocessing.get_context("fork")
    conn, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, fn, os.getpid(), initializer,
                                               initargs), daemon=True)
    process.start()
    child.close()
    process.conn = conn
    return process


def _give(worker, given) -> Optional[int]:
    """Hand the worker the next item; its index, or None when none are left."""
    index, item = next(given, (None, None))
    if index is not None:
        worker.conn.send(item)
    return index


def _take(worker, index: int):
    try:
        ok, value = worker.conn.recv()
    except (EOFError, OSError):
        worker.join(1)
        raise WorkerDied(f"a worker process ended (exit code {worker.exitcode}) while "
                         f"working on item {index}") from None
    if not ok:
        raise value
    return value


def _end(worker) -> None:
    worker.conn.close()
    if worker.is_alive():
        worker.kill()
    worker.join()


def _serve(conn, fn, parent: int, initializer, initargs) -> None:
    _become_worker(parent)
    if initializer:
        initializer(*initargs)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        conn.send(_call(fn, item))


def _call(fn, item) -> tuple:
    """(True, result), or (False, the exception) for the parent to raise."""
    try:
        return True, fn(item)
    except BaseException as e:          # noqa: B036 - the parent decides, even on exit
        where = "in a worker process:\n" + "".join(traceback.format_exception(e)).strip()
        try:
            e.add_note(where)
            pickle.loads(pickle.dumps(e))
            return False, e
        except Exception:
            return False, WorkerDied(where)


def _become_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass                            # not Linux: the parent's kill still holds
    if os.getppid() != parent:          # the parent died before prctl took effect
        os._exit(1)
