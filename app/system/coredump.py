"""No core dump from a process that holds a secret: a crash must not leave the SMTP password in a core file."""


def forbid_core_dumps() -> None:
    """Set RLIMIT_CORE to 0, soft and hard (a child cannot raise it again); never raises (no resource module,
    or a limit the system will not change, leaves things as they were)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
