"""The package's layout, read from its source with `ast`: one subpackage per stage of the data
flow, imports that go one way only, every import at the top of its file.

    python tests/test_layout.py      # prints the import graph's layers, depth and longest chain

The rules (a module may import what is listed, and nothing else of the package):

    checks, files, gradcheck      nothing of the package (the toolkit at the top)
    plots         checks (the shared figures)
    op_cases      checks, ops, models (every op pair with inputs to check it on)
    ops/          checks and other ops
    text/         checks, files, ops and other text modules: no model
    models/       checks, files, ops, other models: neither training, evaluation, commands nor
                  text
    evaluation/   checks, ops, models, other evaluation modules: pure functions of outputs
    training/     everything above but commands
    notebook      the notebooks' toolkit: everything above but exercises and commands
    exercises/    checks, files, gradcheck, ops, text, models, evaluation, training: the library
                  is the reference
    commands/     anything: the only code that reads argv or prints
    __main__      commands (`python -m tinytransformer`)
"""

import ast
import sys
from pathlib import Path

import pytest

import tinytransformer
from tinytransformer.commands.main import COMMANDS

PACKAGE = Path(tinytransformer.__file__).parent

ALLOWED = {  # stage -> the stages its modules may import
    "checks": set(),
    "files": set(),
    "gradcheck": set(),
    "op_cases": {"checks", "ops", "models"},
    "plots": {"checks"},
    "ops": {"checks", "ops"},
    "text": {"checks", "files", "ops", "text"},
    "models": {"checks", "files", "ops", "models"},
    "evaluation": {"checks", "ops", "models", "evaluation"},
    "training": {"checks", "files", "plots", "ops", "text", "models", "evaluation", "training"},
    "notebook": {"checks", "files", "plots", "ops", "text", "models", "evaluation", "training"},
    "exercises": {"checks", "files", "gradcheck", "ops", "text", "models", "evaluation"}
    | {"training", "exercises"},
    "commands": {"checks", "files", "plots", "ops", "text", "models", "evaluation", "training"}
    | {"exercises", "commands"},
    "__main__": {"commands"},  # python -m tinytransformer
}


def module_name(path):
    """tinytransformer/ops/linear.py -> "tinytransformer.ops.linear"; a package's __init__.py
    -> the package's name."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module):
    """The stage a module belongs to: "tinytransformer.ops.linear" -> "ops"; the package
    itself (its __init__, the public API) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {m: ast.parse(p.read_text(), filename=str(p)) for m, p in MODULES.items()}


def imported_modules(module):
    """The package's modules that `module` imports (`from pkg import sub` names the module
    pkg.sub when that is one, else pkg)."""
    out = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tinytransformer")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinytransformer"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


GRAPH = {m: imported_modules(m) for m in MODULES}


def longest_chain(graph):
    """The longest import chain [a, b, ...] (a imports b imports ...); the graph has no cycle."""
    memo = {}

    def chain(m):
        if m not in memo:
            memo[m] = [m] + max((chain(n) for n in graph[m]), key=len, default=[])
        return memo[m]

    return max((chain(m) for m in graph), key=len)


def find_cycle(graph):
    """A list of modules that import each other in a ring, or None."""
    state = {}  # module -> "open" while on the DFS path, "done" after

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return path[path.index(n) :] + [n]
            if n not in state:
                found = visit(n, path + [n])
                if found:
                    return found
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None


# --- the tests ----------------------------------------------------------------------------------


def test_the_checker_sees_every_module_and_its_imports():
    """A guard on the guard: the graph holds the modules and edges we know are there."""
    known = {"ops.attention", "models.gpt", "training.loop", "commands.main"}
    assert {f"tinytransformer.{m}" for m in known} <= set(GRAPH)
    assert "tinytransformer.ops.softmax" in GRAPH["tinytransformer.ops.attention"]
    assert "tinytransformer.training.config" in GRAPH["tinytransformer.commands.train"]
    ring = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(ring) == ["a", "b", "c", "a"]
    assert longest_chain({"a": {"b"}, "b": {"c"}, "c": set()}) == ["a", "b", "c"]


def test_there_is_no_import_cycle():
    assert find_cycle(GRAPH) is None


# The one exception: plots.py imports matplotlib when it draws its first figure, so that no
# command that draws nothing (nor any --help) pays the half second matplotlib takes to load.
LATE_IMPORTS = {
    ("tinytransformer.plots", "matplotlib.backends.backend_agg"),
    ("tinytransformer.plots", "matplotlib.figure"),
}


def test_every_import_is_at_the_top_of_its_file():
    """No import inside a function, class or branch: a cycle cannot hide in a function body."""
    late = []
    for m, tree in TREES.items():
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                names = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                if not all((m, name) in LATE_IMPORTS for name in names):
                    late.append(f"{MODULES[m].relative_to(PACKAGE.parent)}:{node.lineno}")
    assert late == []


def test_the_command_line_imports_only_the_command_it_runs():
    """commands/main.py imports each command's module by name when it runs it (importlib), so
    `sample` loads nothing of `train` or `grade`; every name it lists is a command module."""
    assert not any(stage(n) == "commands" for n in GRAPH["tinytransformer.commands.main"])
    for module, _ in COMMANDS.values():
        assert f"tinytransformer.commands.{module}" in MODULES, module


def test_no_relative_imports():
    relative = [m for m, t in TREES.items()
                for n in ast.walk(t) if isinstance(n, ast.ImportFrom) and n.level]  # fmt: skip
    assert relative == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if stage(m) is not None))
def test_imports_go_one_way(module):
    own = stage(module)
    bad = sorted(n for n in GRAPH[module] if stage(n) not in ALLOWED[own])
    assert bad == [], f"{module} ({own}/) may import only {sorted(ALLOWED[own])}, imports {bad}"


def calls(tree, names):
    """Call sites of the plain functions `names` (print, open, input) and of the methods or
    attributes in `names` (savefig, write_text, argv), with their line numbers."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            found.append((node.func.id, node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.append((node.attr, node.lineno))
    return found


def test_only_commands_read_argv_or_print():
    offenders = {
        m: calls(t, {"print", "input", "argv", "exit"})
        for m, t in TREES.items()
        if stage(m) != "commands"
    }
    assert {m: c for m, c in offenders.items() if c} == {}

    def imports_argparse(tree):
        return any(
            "argparse" in [a.name for a in n.names] + [getattr(n, "module", None)]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
        )

    assert [m for m, t in TREES.items() if stage(m) != "commands" and imports_argparse(t)] == []


def test_evaluation_holds_pure_functions():
    """Evaluation computes numbers from a model's outputs: it writes no file and draws nothing."""
    writes = {"open", "savefig", "write_text", "write_bytes", "write_atomic", "mkdir"}
    offenders = {m: calls(t, writes) for m, t in TREES.items() if stage(m) == "evaluation"}
    assert {m: c for m, c in offenders.items() if c} == {}
    evaluation = [t for m, t in TREES.items() if stage(m) == "evaluation"]
    assert all("matplotlib" not in ast.dump(t) for t in evaluation)


def test_the_public_api_is_at_the_top_in_data_flow_order():
    names = tinytransformer.__all__
    assert len(names) == len(set(names))
    assert all(hasattr(tinytransformer, n) for n in names)
    for needed in ("GPT", "MaskedLM", "SequenceClassifier", "GPTConfig", "PRESETS",
                   "CharTokenizer", "BPETokenizer", "prepare_data", "mask_tokens", "AdamW",
                   "get_lr", "fit", "check_gradients", "perplexity", "corpus_bleu"):  # fmt: skip
        assert needed in names
    # data-flow order: text before models before training before evaluation before checks
    order = [names.index(n) for n in ("load_corpus", "GPT", "AdamW", "perplexity", "rel_error")]
    assert order == sorted(order)


if __name__ == "__main__":
    layers = {}
    for m in GRAPH:
        layers.setdefault(stage(m) or "(public API)", []).append(m)
    for name, mods in layers.items():
        print(f"{name:13s} {len(mods):2d} modules")
    cycle = find_cycle(GRAPH)
    print("cycle:", " -> ".join(cycle) if cycle else "none")
    chain = longest_chain(GRAPH)
    print(f"depth: {len(chain)} modules in the longest import chain")
    print("  " + "\n  -> ".join(chain))
    sys.exit(1 if cycle else 0)


def folder_docstring_misses():
    """(folder, module file) for every module its folder's __init__ docstring does not name:
    the map a reader opens first. The package's own docstring maps the top-level modules."""
    missing = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        for path in sorted(init.parent.glob("*.py")):
            if path.name != "__init__.py" and path.name not in doc:
                missing.append((str(init.parent.relative_to(PACKAGE.parent)), path.name))
    return missing


def test_every_module_is_named_in_its_folders_docstring():
    assert folder_docstring_misses() == []
