"""`python -m tinytransformer.exercises.kernel -f CONNECTION_FILE`: the kernel a graded notebook
runs in. The sandbox is armed first (sandbox.arm: before IPython starts, so before any of the
notebook's code), then IPython's kernel starts as `python -m ipykernel_launcher` would."""

import os

from ipykernel import kernelapp

from tinytransformer.exercises import sandbox

if __name__ == "__main__":
    sandbox.arm(os.environ.pop(sandbox.ARMING))
    kernelapp.launch_new_instance()
