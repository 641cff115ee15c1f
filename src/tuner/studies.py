"""``python -m tuner.studies list|delete NAME [--all]``: see ``tuner.cli.studies``."""

if __name__ == "__main__":
    from tuner.cli.studies import main

    main()
