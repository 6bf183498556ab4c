"""The testing kit's fixtures: pgqtop_queue gives each test a queue of its own."""

pytest_plugins = ["pgqtop.testing"]
