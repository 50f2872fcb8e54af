"""`python -m tinytransformer ...` runs the command line (commands/main.py)."""

from tinytransformer.commands.main import main

if __name__ == "__main__":
    main()
