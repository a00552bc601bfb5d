"""ssh_alert: email the account owner the moment someone logs in over SSH."""

__version__ = "0.2.0"
