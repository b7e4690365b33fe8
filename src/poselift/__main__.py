"""``python -m poselift``: the command line (see :mod:`poselift.cli`)."""

from poselift.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
