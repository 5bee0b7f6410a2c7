"""MkDocs hook: fills the command reference with what ``i3d help COMMAND`` prints, so the page cannot drift from
the commands' own flag definitions."""

import concurrent.futures
import os
import subprocess
import sys

MARKER = "<!-- i3d commands -->"


def command_help(command):
    """The help text of one command, from a fresh process (each command defines its own flags)."""
    result = subprocess.run([sys.executable, "-m", "i3d_keras", "help", command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"i3d help {command} failed:\n{result.stderr}")
    return result.stdout.rstrip()


def reference():
    """Markdown: the command list, then a section per command with its help in a text block."""
    from i3d_keras.cli.main import COMMANDS

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        helps = dict(zip(COMMANDS, pool.map(command_help, COMMANDS)))
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| [`i3d {name}`](#{name}) | {summary} |" for name, (_, summary) in COMMANDS.items()]
    for name, (_, summary) in COMMANDS.items():
        lines += ["", f"## `i3d {name}` {{#{name}}}", "", summary, "", "```text", helps[name], "```"]
    return "\n".join(lines)


def on_page_markdown(markdown, page, **kwargs):
    if MARKER in markdown:
        return markdown.replace(MARKER, reference())
    return markdown
