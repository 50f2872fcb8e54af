"""`python -m tinytransformer ...` runs the command-line interface in cli.py."""

from tinytransformer.cli import main

if __name__ == "__main__":
    main()
