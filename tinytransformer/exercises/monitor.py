"""Running an answer and watching what of the library it calls.

An exercise that asks for softmax written by hand is not answered by calling
tinytransformer.ops.softmax_forward, by handing back the exercise's own reference, or by a copy
of the library's source. While an answer runs, a profile function (sys.setprofile) sees every
Python call: the first call from the answer's code into the library that the exercise does not
allow (`Exercise.may_use`), into the library's implementation of what it asks
(`Exercise.library`), or into code that is a byte-for-byte copy of that implementation raises
LibraryAnswer inside the answer, and CPython then removes the profile function. So whether the
answer "uses the library's answer" is read afterwards from one fact: is the profile function
still the one that was set? Catching the exception does not help an answer.

    watch = Watch.of(exercise)
    run = answering(sys.getprofile, sys.setprofile)
    outcome = run(fn, args, watch)   # Outcome("returned", value, "") or ("raised", ...), ...

Outcome kinds: "returned" (value; detail names an input the answer changed, or ""), "raised"
(value: the line within the answer's function, or 0; detail: "IndexError: ..."), "not done"
(NotImplementedError), "library" (detail: "it called ...", what it did), and, from the grader's
sandbox only,
"stopped" (detail: why the answer was stopped: a time limit, a refused operation).

answering() and profiler() are built like wire.codec(): the functions they return use only names
bound when they were made, so the grader's sandbox makes them before a notebook's code runs.
In a notebook, check() uses them as feedback; the guarantees are the sandbox's (sandbox.py).
"""

import builtins
import importlib
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

PACKAGE = str(Path(__file__).parents[1]) + "/"  # the library's folder, as its code names it
INSTALLED = (
    *sorted({str(Path(p)) + "/" for k, p in sysconfig.get_paths().items() if "lib" in k}),
    "<frozen ",
)
# The methods a dataclass generates are compiled from a string, named "__create_fn__.<locals>.X":
# they are passed over like installed code, so that the library constructing one of its own
# dataclasses (a Sampling inside GPT.generate) is still the library calling itself. Only these:
# other code compiled from a string (an answer's, say) stays the answer's own.
GENERATED = ("<string>", "__create_fn__.<locals>.")


class Outcome(NamedTuple):
    """What happened when an answer ran on one case (see the module docstring)."""

    kind: str
    value: object = None
    detail: str = ""


class LibraryAnswer(Exception):
    """Raised inside an answer that calls the library's implementation of what it asks for."""


def resolve(dotted):
    """ "tinytransformer.models.gpt.GPT.generate" -> that object (a module, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"{dotted}: no such module")


def codes_of(obj):
    """The code objects of a function, a method, a property or a class (every method along its
    MRO), nested functions and comprehensions included."""
    found = []
    if isinstance(obj, type):
        for cls in obj.__mro__[:-1]:  # not `object`
            for member in vars(cls).values():
                found += codes_of(member) if not isinstance(member, type) else []
        return found
    if isinstance(obj, staticmethod | classmethod):
        return codes_of(obj.__func__)
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset, obj.fdel) if f is not None for c in codes_of(f)]
    code = getattr(obj, "__code__", None)
    if not isinstance(code, types.CodeType):
        return []
    stack = [code]
    while stack:
        c = stack.pop()
        found.append(c)
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return found


@dataclass(frozen=True)
class Watch:
    """What an exercise's answer may run: the library's code outside `may_use` is off limits,
    and `library` (the implementation of what is asked, with the exercise's reference) always.

    package:      the library's source folder, as its code objects name their files
    installed:    the folders of the standard library and installed packages (their code is
                  passed over when deciding who called the library)
    may_use:      code objects an answer may call
    library:      code objects an answer may never run
    fingerprints: fingerprint() of the `library` functions, to know a copy of one under
                  another file name
    functions:    the functions behind `library` (the sandbox disables them while answers run)
    """

    package: str
    installed: tuple
    may_use: frozenset
    library: frozenset
    fingerprints: frozenset
    functions: tuple

    @classmethod
    def of(cls, ex, package=PACKAGE):
        may_use = {c for name in ex.may_use for c in codes_of(resolve(name))}
        ops = [resolve(name) for name in ex.library]
        library = {c for f in [*ops, ex.reference] for c in codes_of(f)}
        prints = {fingerprint(f.__code__) for f in ops if hasattr(f, "__code__")}
        functions = tuple(f for f in [*ops, ex.reference] if isinstance(f, types.FunctionType))
        return cls(
            package,
            INSTALLED,
            frozenset(may_use - library),
            frozenset(library),
            frozenset(prints),
            functions,
        )


def fingerprint(code):
    """What a copy of a function keeps wherever it is compiled (exec of its source, say): its
    name, number of arguments, variables and the global and attribute names it uses. (Its
    bytecode can differ: CPython compiles a method call on a module's attribute differently.)"""
    return code.co_name, code.co_argcount, code.co_varnames, code.co_names


def call(fn, args):
    """The one frame between the checker and an answer: a call into the library from here is a
    call from the answer."""
    return fn(*args)


def profiler(watch, found, thread_count=None):
    """-> a profile function for one answer (see the module docstring). It reads only its
    default arguments (bound now, in a tuple that cannot be changed in place); `found` receives
    what was called, for the message. thread_count, when given (the sandbox's
    _thread._count), makes a thread started by the answer count as the library's answer too:
    the calls of another thread are not profiled.

    A call into the library comes from the answer when the nearest frame above it that is not
    the standard library's or an installed package's is the answer's own code (or `call`); when
    it is the library's, the library is calling itself (through contextlib, say) and any code
    may run. A call into `library` is refused wherever it comes from."""
    threads = thread_count() if thread_count is not None else 0
    cut = len(watch.package)

    def profile(
        frame,
        event,
        arg,
        package=watch.package,
        cut=cut,
        installed=watch.installed,
        may_use=watch.may_use,
        library=watch.library,
        prints=watch.fingerprints,
        entry=call.__code__,
        generated=GENERATED,
        count=thread_count,
        threads=threads,
        found=found,
        signal=LibraryAnswer,
    ):
        if count is not None and count() != threads:
            found.append("it started a thread (whose calls cannot be watched)")
            raise signal
        if event != "call":
            return
        code = frame.f_code
        if not code.co_filename.startswith(package):
            # a copy of the library's code: its name, arguments, variables and the names it uses
            if (code.co_name, code.co_argcount, code.co_varnames, code.co_names) in prints:
                found.append(f"it called {code.co_qualname}, a copy of the library's code")
                raise signal
            return
        if code not in library:
            caller = frame.f_back
            while caller is not None:
                called_by = caller.f_code
                if called_by is entry:
                    break  # called by the answer itself
                filename = called_by.co_filename
                if filename.startswith(package):
                    return  # the library calling itself
                made = filename == generated[0] and called_by.co_qualname.startswith(generated[1])
                if not filename.startswith(installed) and not made:
                    break  # the answer's own code
                caller = caller.f_back
            if code in may_use:
                return
        found.append(
            "it called tinytransformer/" + code.co_filename[cut:] + ": " + code.co_qualname
        )
        raise signal

    return profile


def answering(getprofile, setprofile, thread_count=None):
    """-> run(fn, inputs, watch) -> Outcome: call an answer with one case's inputs (a dict,
    passed by position) under a fresh profiler, and say what happened (the module docstring).
    watch None runs it unwatched (the package's own wrong answers, in its tests). Built like
    wire.codec()."""
    type, str, zip, getattr = builtins.type, builtins.str, builtins.zip, builtins.getattr
    CodeType = types.CodeType
    BaseException_, Exception_ = builtins.BaseException, builtins.Exception
    NotImplementedError_, KeyboardInterrupt_ = builtins.NotImplementedError, KeyboardInterrupt
    ndarray, Outcome_, LibraryAnswer_, call_, profiler_ = (
        np.ndarray,
        Outcome,
        LibraryAnswer,
        call,
        profiler,
    )

    def run(fn, inputs, watch):
        args = [*inputs.values()]
        before = [a.copy() if type(a) is ndarray else None for a in args]
        found = []
        profile = profiler_(watch, found, thread_count) if watch is not None else None
        error = None
        setprofile(profile)
        try:
            value = call_(fn, args)
        except KeyboardInterrupt_:
            setprofile(None)
            raise
        except BaseException_ as e:  # the answer's exception, or ours if it did not catch it
            error = e
        intact = getprofile() is profile
        setprofile(None)
        if not intact or type(error) is LibraryAnswer_:
            why = found[0] if found else "it changed the profile function that watches it"
            return Outcome_("library", None, why)
        if error is not None:
            if type(error) is NotImplementedError_:
                return Outcome_("not done")
            return Outcome_("raised", line_in_answer(fn, error), describe(error))
        for name, old, new in zip(inputs, before, args):
            if old is not None and not same(old, new):
                return Outcome_("returned", value, name)
        return Outcome_("returned", value, "")

    def line_in_answer(fn, error):
        """The line of fn (1 for its `def`) where the error came from, or 0. The traceback's
        entries are run, call, then the answer's own frame (when fn is Python code); tb_lineno
        is read without touching the frames."""
        code = getattr(fn, "__code__", None)
        tb = error.__traceback__
        for _ in (1, 2):
            tb = tb.tb_next if tb is not None else None
        if tb is None or type(code) is not CodeType:
            return 0
        return tb.tb_lineno - code.co_firstlineno + 1

    def describe(error):
        try:
            text = str(error)
        except Exception_:
            text = "(its message could not be read)"
        return type(error).__name__ + (": " + text if text else "")

    def same(old, new):
        if type(new) is not ndarray or new.shape != old.shape or new.dtype != old.dtype:
            return False
        return new.tobytes() == old.tobytes()

    return run
