"""The worker engine: take jobs, run handlers, record outcomes."""
