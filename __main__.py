"""gir-lb Pulumi program entry point (the program itself: components/program.py)."""

from components.program import run

run()
