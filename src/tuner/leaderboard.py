"""``python -m tuner.leaderboard +experiment=<name> [leaderboard.top=10]``: see ``tuner.cli.leaderboard``."""

if __name__ == "__main__":
    from tuner.cli.leaderboard import main

    main()
