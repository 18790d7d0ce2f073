"""Command-line entry points (`python -m core <command>`)."""
