"""``python -m tuner.replay +experiment=<name> trial=<N>``: see ``tuner.cli.replay``."""

if __name__ == "__main__":
    from tuner.cli.replay import main

    main()
