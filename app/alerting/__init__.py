"""From the login log to sent alerts: state diff, policy, rendering, the store and its outbox, the run."""
