"""The source's QMP monitor (main loop), for the fault layer `cancel` only.

Abstracts migrate_fd_cancel() at QEMU 9d01778af8e3 (migration.c): while the migration
runs, set CANCELLING and qemu_file_shutdown(s->to_dst_file). Nothing multifd is posted:
the migration thread finds the stream's error at its next check, and the destination
reads the end of the stream. Not modelled: the return path, yank.
"""

from .machine import Role, row, table_functions
from .transports import STREAM_EOF
from . import migration

__all__ = ["ROLE", "STATES"]

STATES = (
    "IDLE",       # the user has not typed migrate_cancel
    "DONE",       # migrate_cancel ran
)

TRANSACTION_STARTS = ()

TRANSITIONS = [
    row("migrate_cancel", "IDLE", "DONE", when=["cancel_armed", "migration_running"],
        do="cancel_migration", qemu="migrate_fd_cancel"),
]


def cancel_armed(cfg, s, t, c):
    return cfg.fault("cancel") and s.faults_left > 0


def migration_running(cfg, s, t, c):
    """migration_is_running(): before cleanup (and before the last record went out)."""
    return s.mig_pc in migration.RUNNING


def cancel_migration(cfg, s, t, c):
    """CANCELLING, then qemu_file_shutdown(to_dst_file): later writes are lost."""
    return s.replace(stream=s.stream + (STREAM_EOF,), stream_shut=1,
                     faults_left=s.faults_left - 1)


ROLE = Role(name="monitor", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=table_functions(globals()), pc_field="monitor_pc", per_channel=False,
            thread="monitor", transaction_starts=TRANSACTION_STARTS)
