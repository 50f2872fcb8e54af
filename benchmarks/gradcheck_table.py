"""Print the worst relative error of every op's backward pass against finite differences.

The same checks as tests/test_gradients.py (float64, random upstream gradient, the cases and
shapes of tinytransformer/op_cases.py), reported instead of asserted, for the table in the
README. Run from the repository root:

    python benchmarks/gradcheck_table.py
"""

import zlib

import numpy as np

from tinytransformer.gradcheck import check_gradients
from tinytransformer.op_cases import CASES, SHAPES


def main():
    print(f"| op | worst relative error over shapes {SHAPES} | worst tensor |")
    print("|---|---|---|")
    for op, case in CASES.items():
        worst = {}
        for shape in SHAPES:
            rng = np.random.default_rng(zlib.crc32(f"{op}{shape}".encode()))
            forward, backward, inputs = case(rng, *shape, np.float64)
            for name, err in check_gradients(forward, backward, inputs, rng=rng).items():
                worst[name] = max(worst.get(name, 0.0), err)
        name = max(worst, key=worst.get)
        print(f"| {op} | {worst[name]:.1e} | {name} |")


if __name__ == "__main__":
    main()
