"""``python -m tuner +experiment=<name>``: see ``tuner.cli.run``."""

from tuner.cli.run import main

if __name__ == "__main__":
    main()
