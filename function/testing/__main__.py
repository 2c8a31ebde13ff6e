"""Entry point of ``python -m function.testing`` (see `cli`)."""

from function.testing.cli import emulator

emulator()
