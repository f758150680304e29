"""A counterexample as a Mermaid `sequenceDiagram`, to paste into a GitLab issue.

One participant per thread of the story; each run of consecutive steps of one thread is
one note over it; each semaphore post that a wait takes, and each packet or record that
is read, is an arrow from the thread that posted (or wrote) to the thread that waited
(or read), drawn where it is taken (`msc.messages`): solid for a semaphore, dotted for
data. The broken property ends it as a note over every participant; a deadlock adds its
wait-for graph, and a liveness counterexample puts its cycle in a `loop` block.

To stay short enough to paste, a run of more than `FOLD` steps of one thread shows its
first and last step and says which steps it folds (the `.txt` story has them all). Text
is escaped where Mermaid would read it as syntax (`#`, `;`, `:`, `<`), with Mermaid's
own entity codes. The text depends only on the counterexample: the same run writes the
same bytes.
"""

import textwrap

from . import waitfor
from .counterexample import compact
from .msc import LANE_TITLES, messages

__all__ = ["sequence_diagram", "counterexample_diagram", "escape", "FOLD"]

FOLD = 3          # a run of more steps than this shows only its first and last
WIDTH = 64        # characters of a note's line before it wraps
_ENTITIES = {"#": "#35;", ";": "#59;", ":": "#58;", "<": "#lt;"}


def escape(text: str) -> str:
    """`text` with the characters Mermaid would take for syntax as entity codes.

    >>> escape("p->sem_sync[0]: posted; #1 < 2")
    'p->sem_sync[0]#58; posted#59; #35;1 #lt; 2'
    """
    return "".join(_ENTITIES.get(c, c) for c in text)


def _lines(text: str, width: int = WIDTH) -> list:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _note_text(lines: list) -> str:
    return "<br/>".join(escape(line) for line in lines)


def _item(line: str) -> str:
    """A line of the wait-for text, its indent (lost in a note) as a dash."""
    return "- " + line.strip() if line.startswith("    ") else line.strip()


def _participant(name: str) -> str:
    """A thread's name as a Mermaid identifier: send[1] -> send1."""
    return "".join(c for c in name if c.isalnum() or c == "_")


def _runs(trace, loop_at):
    """Consecutive steps of one thread as (thread, [step numbers]); a run never spans the
    start of a lasso's cycle (step loop_at + 1)."""
    runs = []
    for step, (label, _) in enumerate(trace[1:], start=1):
        starts_cycle = loop_at is not None and step == loop_at + 1
        if runs and runs[-1][0] == label[0] and not starts_cycle:
            runs[-1][1].append(step)
        else:
            runs.append((label[0], [step]))
    return runs


def _step_lines(trace, step):
    _, action, qemu = trace[step][0]
    return _lines(f"{step}. {compact(action)}") + _lines(f"in {qemu}")


def _run_note(trace, thread, steps):
    """One note for a run: every step, or for a long run its first and last and what
    was folded between them."""
    if len(steps) <= FOLD:
        lines = [line for step in steps for line in _step_lines(trace, step)]
    else:
        first, last = steps[0], steps[-1]
        folded = f"(steps {first + 1} to {last - 1} of {thread} folded: see the story)"
        lines = _step_lines(trace, first) + _lines(folded) + _step_lines(trace, last)
    return f"    Note over {_participant(thread)}: {_note_text(lines)}"


def _arrow(trace, src, dst, kind, text):
    frm, to = (_participant(trace[s][0][0]) for s in (src, dst))
    arrow = "->>" if kind == "sem" else "-->>"
    return f"    {frm}{arrow}{to}: {escape(f'{text} (step {src} to {dst})')}"


def sequence_diagram(system, trace, name, doc, loop_at=None, title="") -> str:
    """The Mermaid text of one counterexample: `trace` as Result.trace gives it, the
    broken property `name` and its docstring `doc`, the lasso's `loop_at` (or None)."""
    runs = _runs(trace, loop_at)
    lanes = [t.name for t in system.threads if any(t.name == thread for thread, _ in runs)]
    into = {}
    for src, dst, kind, text in messages(trace):
        into.setdefault(dst, []).append((src, dst, kind, text))
    folded = sum(len(steps) - 2 for _, steps in runs if len(steps) > FOLD)
    out = [f"%% {len(trace) - 1} steps, {len(runs)} runs of one thread; "
           + (f"{folded} steps folded (runs of more than {FOLD} show their first and last)"
              if folded else "nothing folded"),
           "sequenceDiagram"]
    if title:
        out.append(f"    title {escape(title)}")
    for lane in lanes:
        shown = " ".join(LANE_TITLES.get(lane, lane).split())
        out.append(f"    participant {_participant(lane)} as {escape(shown)}")
    for thread, steps in runs:
        if loop_at is not None and steps[0] == loop_at + 1:
            out.append("    loop the cycle repeats for ever")
        for step in steps:
            out += [_arrow(trace, *m) for m in into.get(step, ())]
        out.append(_run_note(trace, thread, steps))
    if loop_at is not None:
        out.append("    end")
    span = _participant(lanes[0]) + ("" if len(lanes) == 1 else f",{_participant(lanes[-1])}")
    out.append(f"    Note over {span}: {_note_text([f'broken: {name}'] + _lines(doc))}")
    if name == "no_deadlock" and loop_at is None:
        waits = waitfor.render_text(waitfor.wait_for(system, trace[-1][1]))
        out.append(f"    Note over {span}: {_note_text([_item(w) for w in waits])}")
    return "\n".join(out) + "\n"


def counterexample_diagram(system, result, doc: str) -> str:
    """The Mermaid text of the run's headline counterexample ('' when nothing broke, or
    the property was never satisfied, with no path to show)."""
    name = result.property
    if not name or not result.violations[name].path:
        return ""
    title = f"{system.variant.name}, {system.config.label()}"
    return sequence_diagram(system, result.trace(name), name, doc,
                            result.violations[name].loop_at, title)
