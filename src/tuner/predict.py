"""``python -m tuner.predict +experiment=<name> predict.input=PATH [predict.output=FILE]``: see
``tuner.cli.predict``."""

if __name__ == "__main__":
    from tuner.cli.predict import main

    main()
