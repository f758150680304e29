"""Counterexamples as numbered stories, as JSON, and as replay scripts.

A step reads: its number, the thread, the QEMU functions it ran through, the actions
(the rows of the thread's table, joined by " > " inside a transaction), and only the
variables that changed. The story ends with the broken property and its docstring, and
a replay script: the list of "thread: action" lines that `replay()` turns back into the
same states, which a test can paste in.
"""

import textwrap

from . import story, waitfor

__all__ = ["steps", "render", "result_json", "replay", "script", "compact", "ReplayError"]

WIDTH = 100


class ReplayError(ValueError):
    """A replay script names a step that is not enabled; one line for the user."""


def steps(system, result, name: str) -> list:
    """The violation of `name` as dicts: step, thread, action, qemu, changes."""
    trace = result.trace(name)
    out = []
    for number, ((label, state), (_, before)) in enumerate(zip(trace[1:], trace), start=1):
        thread, action, qemu = label
        out.append({"step": number, "thread": thread, "action": action, "qemu": qemu,
                    "changes": story.changes(system, before, state)})
    return out


def script(step_list: list) -> list:
    """The replay form of a counterexample: ["thread: action", ...]."""
    return [f"{s['thread']}: {s['action']}" for s in step_list]


def replay(system, lines: list) -> list:
    """The states a replay script walks through, from the initial state."""
    state = system.initial_states()[0]
    states = [state]
    for number, line in enumerate(lines, start=1):
        thread, _, action = line.partition(": ")
        nxt = [s for (t, a, _), s in system.successors(state) if t == thread and a == action] \
            or [s for (t, a, _), s in system.settle_steps(state) if t == thread and a == action]
        if not nxt:
            raise ReplayError(f"replay step {number}: {line!r} is not enabled here")
        state = nxt[0]
        states.append(state)
    return states


def compact(action: str) -> str:
    """'a > b > b > c' -> 'a > b x2 > c'."""
    parts, out = action.split(" > "), []
    for part in parts:
        if out and out[-1][0] == part:
            out[-1][1] += 1
        else:
            out.append([part, 1])
    return " > ".join(p if n == 1 else f"{p} x{n}" for p, n in out)


def _wrap(text: str, indent: str) -> list:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False) or [indent]


def _render_step(s: dict, loop_start: bool) -> list:
    lines = ["     -- the cycle starts here --"] if loop_start else []
    lines.append(f"{s['step']:>4}. {s['thread']:<8} {s['qemu']}")
    lines += _wrap(compact(s["action"]), " " * 15)
    lines += _wrap("; ".join(s["changes"]) or "(nothing visible changes)", " " * 15 + "| ")
    return lines


def _header(system, result) -> list:
    v, cfg = system.variant, system.config
    symmetric = getattr(system, "symmetric", False)
    forced = ["symmetry  forced on (--symmetry): channels may be relabelled between steps"] \
        if symmetric and not system.symmetry_sound() else []
    return forced + [f"variant {v.name} ({v.stands_for})", f"config  {cfg.label()}",
            f"verdict {result.verdict.upper()}: {result.states:,} states, "
            f"{result.transitions:,} transitions, depth {result.depth}"] + \
        _steps_line(result) + (_any_order_lines(result, symmetric) if cfg.any_order else
                               _symmetry_lines(result))


def _steps_line(result) -> list:
    """How the run cut the threads' steps, where it is not the catalogue's way."""
    if result.transactions == "derived":
        again = f"; started over {result.restarts} times as it learnt them" \
            if result.restarts else ""
        return [f"steps   transactions derived from what each step reads and writes{again}"]
    if result.transactions == "none":
        return ["steps   one step per row (--fine-grained)"]
    if result.transactions == "declared" and not result.merged_waits:
        return ["steps   each wait of a run of waits its own step (--split-waits)"]
    if result.quiet_lost:
        return ["steps   the sync's check of exiting its own step: a state broke what "
                "taking it with the waits rests on"]
    return []


def _symmetry_lines(result) -> list:
    """What channel symmetry did, in QEMU's loop order, where it was on or fell back."""
    if result.symmetry == "on":
        return ["symmetry on (the channels are interchangeable here): states counted up to "
                "a relabelling of channels"]
    if result.symmetry == "lost":
        return ["symmetry off: a loop over channels stopped half way, so the search ran "
                "again without it"]
    return []


def _any_order_lines(result, symmetric) -> list:
    reduced = ", symmetry reduction on (sound here)" if symmetric else ""
    return [f"loops   any order (--loops any){reduced}: this over-approximates QEMU's index "
            f"order, so a pass holds for QEMU and a violation may need --loops index",
            f"        not checked with --loops any: {', '.join(result.unchecked)}"]


def expectation(system, result) -> tuple:
    """(the variant's declared verdict here, whether the run agrees): ("pass" or
    "violation: a, b", True or False), or (None, None) where the variant declares none
    for this configuration, or the run stopped before a verdict."""
    breaks = system.variant.expectation(system.config)
    if breaks is None:
        return None, None
    expected = "violation: " + ", ".join(breaks) if breaks else "pass"
    if result.verdict == "inconclusive":
        return expected, None
    if breaks:
        return expected, result.verdict == "violation" and set(breaks) <= set(result.violations)
    return expected, result.verdict == "pass"


def expected_text(system, result) -> str:
    """The `expect` line: what the variant declares here, and whether the run agrees."""
    expected, agrees = expectation(system, result)
    v = system.variant
    if expected is None and agrees is None:
        judged = f"judged under {'+'.join(v.faults)}" if v.faults else "judged without faults"
        return f"nothing declared at this configuration (variant {v.name} is {judged}, " \
               f"at {'/'.join(v.transports)}, {'/'.join(v.flush_modes)})"
    if agrees is None:
        return f"{expected}; not known: the run stopped before a verdict"
    return f"{expected}, as declared" if agrees else f"{expected}, but the run found " \
        f"{'no violation' if result.verdict == 'pass' else ', '.join(result.violations)}" \
        " (NOT as declared)"


def end_counts(system, result) -> dict:
    """How many proper end states of each kind the run reached (completed, failed)."""
    counts = {}
    for sid in result.ends:
        kind = system.end_kind(result.graph.state_of(sid))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def _ends_text(system, result) -> str:
    counts = end_counts(system, result)
    if not counts:
        return "no proper end reached"
    return ", ".join(f"{n:,} {kind}" for kind, n in counts.items()) + " (proper end states)"


def _smaller_runs(system, result) -> list:
    """For a run that hit a bound: the options that ask the same question of fewer
    states or less memory, among those it did not use."""
    cfg = system.config
    options = [("--pick round-robin", "QEMU's own scan", not cfg.round_robin),
               ("--loops any", "symmetry; invariants and deadlock only",
                not cfg.any_order and system.symmetry_sound_with_any_order()),
               ("--fingerprint", "less memory a state", not result.fingerprint)]
    shown = [f"{flag} ({why})" for flag, why, useful in options if useful]
    return [f"hint    fewer states or less memory: {', '.join(shown)}"] if shown else []


def render(system, result, docs: dict) -> str:
    """The run as text: header, then the headline violation as a story (if any).

    Nothing in it depends on timing, so the same run prints the same bytes."""
    lines = _header(system, result) + [f"ends    {_ends_text(system, result)}",
                                       f"expect  {expected_text(system, result)}"]
    if result.fingerprint:
        lines.append(f"fingerprints 64-bit; collision probability "
                     f"{result.collision_probability:.1e} (optimistic); not checked in this "
                     f"mode: {', '.join(result.unchecked) or 'nothing'}")
    if result.bound:
        lines += [f"stopped early: {result.bound}", *_smaller_runs(system, result)]
    if result.verdict != "violation":
        return "\n".join(lines) + "\n"
    others = [n for n in result.violations if n != result.property]
    if others:
        lines.append(f"also broken: {', '.join(others)}")
    lines += [""] + _story(system, result, result.property, docs)
    return "\n".join(lines) + "\n"


def _story(system, result, name: str, docs: dict) -> list:
    violation = result.violations[name]
    if not violation.path:
        return [f"never satisfied in {result.states:,} states: {name}"] + \
            _wrap(docs[name], "  ")
    story = steps(system, result, name)
    lines = [f"shortest counterexample to {name}: {len(story)} steps", ""]
    loop_at = violation.loop_at
    for s in story:
        lines += _render_step(s, loop_at is not None and s["step"] == loop_at + 1)
    if loop_at is not None:
        lines.append(f"     -- step {len(story)} is back where step {loop_at + 1} started: "
                     "the cycle repeats forever --")
    final = result.trace(name)[-1][1]
    lines += [""] + _ending(system, final, name) + [f"broken: {name}"] + _wrap(docs[name], "  ")
    lines += ["", "replay:"] + [f"  {line}" for line in script(story)]
    return lines


def _ending(system, final, name) -> list:
    """For a hang: where every thread that has not finished is; for a deadlock, also
    the wait-for graph (what each blocked thread waits on, and who could post it)."""
    if name not in ("no_deadlock", "end_always_reachable", "no_fair_livelock"):
        return []
    lines = ["where the threads are:"]
    for thread in system.threads:
        lines.append(f"  {thread.name:<8} "
                     f"{system.state_name(thread.role, system.pc(final, thread))}")
    if name == "no_deadlock":
        lines += [""] + waitfor.render_text(waitfor.wait_for(system, final))
    return lines + [""]


def result_json(system, result) -> dict:
    """The JSON object of the command-line contract (docs/cli.md, JSON output)."""
    out = {"variant": system.variant.name, "config": system.config.as_dict(),
           "verdict": result.verdict, "property": result.property,
           "violations": list(result.violations), "states": result.states,
           "transitions": result.transitions, "depth": result.depth,
           "seconds": round(result.seconds, 3), "bound": result.bound,
           "fingerprint": result.fingerprint, "unchecked": result.unchecked,
           "transactions": result.transactions, "merged_waits": result.merged_waits,
           "symmetry": result.symmetry,
           "expected": expectation(system, result)[0],
           "as_expected": expectation(system, result)[1],
           "collision_probability": result.collision_probability,
           "ends": end_counts(system, result),
           "counterexample": [], "loop_at": None}
    if result.property and result.violations[result.property].path:
        out["counterexample"] = steps(system, result, result.property)
        out["loop_at"] = result.violations[result.property].loop_at
    return out
