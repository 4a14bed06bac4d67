"""``python -m monitor`` runs the ``vitals`` CLI."""

from monitor.cli import app

app(prog_name="vitals")
