"""Run a command and say that it is still working whenever it has been silent for a while.

    python tools/with_heartbeat.py [--every 20] [--hide REGEX] "installing" -- pip install ...

The command's own output passes through unchanged (but for lines matching ``--hide``);
after every ``--every`` seconds
(default 20) without a line, one line ``... still <what> (<seconds> s)`` is printed, so a
long step is never silent.  The command's stderr is merged into its stdout.  Ctrl-C stops
the command (exit 130), with one line of this wrapper's unless the command itself ended
within 5 seconds, having said its own; otherwise the exit status is the command's.  That
line and exit 130 are written here, not taken from the lab's ``lab.commands.shell``: this
wrapper runs the installs, in a new environment before the packages the lab imports are in
it, so it uses the standard library only (its clock too: time.monotonic, not lab.clock).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", help="what the command does, for the progress line")
    parser.add_argument("--every", type=float, default=20.0, help="seconds of silence per line")
    parser.add_argument("--hide", default=None,
                        help="a regular expression: matching lines are not passed through")
    args = parser.parse_args(argv[:split])
    hide = re.compile(args.hide) if args.hide else None
    command = argv[split + 1:]
    if not command:
        parser.error("no command after --")
    start = last = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1)

    def forward():
        nonlocal last
        for line in child.stdout:
            if hide is None or not hide.search(line):
                sys.stdout.write(line)
                sys.stdout.flush()
                last = time.monotonic()

    reader = threading.Thread(target=forward, daemon=True)
    reader.start()
    try:
        while child.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last >= args.every:
                print(f"  ... still {args.what} ({time.monotonic() - start:.0f} s)", flush=True)
                last = time.monotonic()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the command too: let it stop and say so itself
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
            print(f"\ninterrupted while {args.what}.", file=sys.stderr)
        return 130
    reader.join(timeout=5)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
