"""``python -m tuner.export +experiment=<name>``: see ``tuner.cli.export``."""

from tuner.cli.export import main

if __name__ == "__main__":
    main()
