"""What ssh_alert needs from the operating system: private files, processes, paths, its own log."""
