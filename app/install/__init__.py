"""Putting ssh_alert in place: the login hook, the cron line, the plan of file changes, migration."""
