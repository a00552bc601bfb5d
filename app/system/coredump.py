"""No core dump from a process that holds a secret: a crash must not leave the SMTP password in a core file."""

from __future__ import annotations


def forbid_core_dumps() -> None:
    """Set the soft RLIMIT_CORE to 0 (the kernel writes no core file; children inherit it); never raises (no
    resource module, or a limit the system will not change, leaves things as they were)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass
