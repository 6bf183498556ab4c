"""What each CLI command does; `cli.py` only parses arguments and calls into here."""
