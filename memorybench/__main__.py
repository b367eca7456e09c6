"""``python -m memorybench`` and the ``memorybench`` command: Ctrl-C at any moment, even
while the command line's modules are still importing, is exit 130 with one line."""

import sys


def main() -> None:
    try:
        from memorybench.cli import main as cli_main
    except KeyboardInterrupt:
        print("memorybench: interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
