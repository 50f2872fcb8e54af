"""Inside a graded notebook's kernel: answering the grader's question where the notebook's own
code cannot interfere.

kernel.py calls arm() before IPython starts, so before any of the notebook's code runs. arm()
reads the grader's secret key from a file it then deletes, builds everything the answers need
(wire.codec, wire.sealing, monitor.answering and one monitor.Watch per exercise), keeps it in
closures that nothing else references, and installs an audit hook (sys.addaudithook: it cannot
be removed). From then on:

- The notebook runs as usual. It can replace check(), numpy, the exercise table or this module:
  none of that is used to decide a grade. It cannot look into the kernel's objects or memory
  (gc.get_objects and its kin, sys._current_frames, /proc/<pid>/mem): the hook stops the kernel
  at the first such call, after telling the runner why.
- The grader's question arrives last, as a code cell holding one sealed, encrypted string. When
  IPython executes it, the hook sees the code (the "exec" audit event) and forks: the kernel
  itself stops (SIGSTOP: no thread of the notebook runs while it is answered, and the runner has
  already ended every other process of the notebook), and the child, a one-thread copy of the
  notebook after its last cell, answers. For each exercise it forks again; in that grandchild
  the library's implementation of the exercise is disabled (its code replaced), the answer's
  function is called on each case under monitor's profiler, and the hook refuses, by ending the
  grandchild, what could reach the answering code or leave the process: stack frames, the
  garbage collector's lists, tracing and profiling, ctypes, subprocesses and forks, sockets,
  /proc. Each outcome goes back sealed with the key, so nothing the notebook writes can pass for
  an answer.

The grader compares the outcomes with the library in its own process (judging.py).
"""

import _thread
import binascii
import builtins
import gc
import os
import select
import signal
import sys
import time
import types
import warnings

import numpy as np

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.monitor import Watch, answering
from tinytransformer.exercises.wire import WireError, codec, sealing

ARMING = "TINYTRANSFORMER_SANDBOX"  # names the file arm() reads its key and channel from
MARK = "tinytransformer-grader-question:"  # the grader's question cell is a string that starts so
REFUSED_EXIT = 3  # how a refusing sandbox process ends

# stopped at any time: these reach every object of the kernel, the key among them
ALWAYS_REFUSED = frozenset(
    {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames"}
)
# refused while an answer runs: ways to the answering code's frames and state, or out of the
# process (another process, a socket, native code), or into its memory
WHILE_ANSWERING = ALWAYS_REFUSED | {
    "sys._getframe",
    "sys.settrace",
    "sys.setprofile",
    "sys.addaudithook",
    "sys.monitoring.register_callback",
    "function.__new__",
    "code.__new__",
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.kill",
    "os.killpg",
    "pty.spawn",
}
WHILE_ANSWERING_PREFIXES = (
    "ctypes.",
    "socket.",
    "subprocess.",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "_posixsubprocess",
    "cpython.",
    "_winapi.",
)
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# a function's code and defaults: what the disabled library functions and the profile are made of
FUNCTION_PARTS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})


def question_cell(nonce, sealed):
    """The source of the cell that asks a kernel armed with the same key the grader's question
    (sealed: the encrypted question, sealed; nonce: the encryption's nonce)."""
    text = MARK + binascii.b2a_hex(nonce).decode() + ":" + binascii.b2a_base64(sealed).decode()
    return repr(text.strip())


def frame(data):
    """A length-prefixed message on the channel: 4 bytes little-endian length, then data."""
    return len(data).to_bytes(4, "little") + data


def arm(path):
    """Arm this process (see the module docstring). path: the file the runner wrote, holding
    {"key": bytes, "channel": fd}; it is deleted here."""
    # Every name the hook and the answering code use is bound now, as a local the functions
    # below close over: a notebook that later replaces builtins, os, numpy or this module's
    # globals does not reach them, and nothing outside this function references them.
    # builtins
    enumerate, int, len, max, str, tuple, type = (
        builtins.enumerate,
        builtins.int,
        builtins.len,
        builtins.max,
        builtins.str,
        builtins.tuple,
        builtins.type,
    )
    BaseException_, OSError_, ValueError_ = builtins.BaseException, OSError, ValueError
    # processes, signals, time and threads
    fork, kill, getpid, pipe, write, read, close, _exit, waitpid, mkdir = (
        os.fork,
        os.kill,
        os.getpid,
        os.pipe,
        os.write,
        os.read,
        os.close,
        os._exit,
        os.waitpid,
        os.mkdir,
    )
    SIGSTOP, SIGKILL, SIGPIPE, SIGXFSZ = (
        signal.SIGSTOP,
        signal.SIGKILL,
        signal.SIGPIPE,
        signal.SIGXFSZ,
    )
    SIG_DFL, SIG_IGN, set_signal, valid_signals = (
        signal.SIG_DFL,
        signal.SIG_IGN,
        signal.signal,
        signal.valid_signals,
    )
    wait_readable, monotonic, start_thread, allocate_lock = (
        select.select,
        time.monotonic,
        _thread.start_new_thread,
        _thread.allocate_lock,
    )
    # the interpreter, numpy, and this module's own names
    gc_disable, modules, real_setprofile, getprofile, seterr, simplefilter = (
        gc.disable,
        sys.modules,
        sys.setprofile,
        sys.getprofile,
        np.seterr,
        warnings.simplefilter,
    )
    a2b_hex, a2b_base64, CodeType = binascii.a2b_hex, binascii.a2b_base64, types.CodeType
    Sink, WireError_, frame_, mark, refused_exit = _Sink, WireError, frame, MARK, REFUSED_EXIT
    always, answering_events, answering_prefixes, frame_attributes, function_parts = (
        ALWAYS_REFUSED,
        WHILE_ANSWERING,
        WHILE_ANSWERING_PREFIXES,
        FRAME_ATTRIBUTES,
        FUNCTION_PARTS,
    )

    with open(path, "rb") as f:
        settings = codec().decode(f.read())
    os.unlink(path)
    key, channel = settings["key"], settings["channel"]
    seal, unseal, cipher = sealing(key)
    del settings, key
    wire = codec()
    state = {"answering": False, "asked": False, "own": False, "tripped": False, "out": None}
    state["case"] = 0

    def setprofile(function):
        # the answering code's own profile changes are the only ones allowed while answering
        state["own"] = True
        real_setprofile(function)
        state["own"] = False

    run = answering(getprofile, setprofile, _thread._count)
    watches, tripwires = {}, {}
    for exercise_id, ex in EXERCISES.items():
        watches[exercise_id] = Watch.of(ex)
        tripwires[exercise_id] = _tripwires(watches[exercise_id].functions)

    def send(fd, message):
        data = frame_(seal(wire.encode(message)))
        while data:
            data = data[write(fd, data) :]

    def refuse(event):
        """End this process, saying why, on the channel (the kernel) or to the answering root
        (an answering grandchild)."""
        try:
            if state["answering"]:
                why = f"it used {event}, which the grader does not allow while it runs answers"
                send(state["out"], {"case": state["case"], "outcome": ("stopped", None, why)})
            else:
                send(channel, {"kind": "refused", "what": event})
        finally:
            _exit(refused_exit)

    def hook(event, args):
        if state["answering"]:
            if event == "sys.setprofile":
                # allowed: the answering code's own calls, and one other per case, which is
                # CPython removing the profile function after it raised (the answer called
                # the library) or the answer removing it: either way the case is "library"
                if not state["own"]:
                    if state["tripped"]:
                        refuse(event)
                    state["tripped"] = True
            elif event in answering_events or event.startswith(answering_prefixes):
                refuse(event)
            elif event == "object.__getattr__" and args[1] in frame_attributes:
                refuse(f"{args[1]} (a stack frame)")
            elif event in ("object.__setattr__", "object.__delattr__"):
                if args[1] in function_parts:
                    refuse(f"{event} of {args[1]}")
            elif event == "open" and type(args[0]) is str and args[0].startswith("/proc/"):
                refuse(f"open({args[0]!r})")
            return
        if event in always:
            refuse(event)
        elif event == "open" and type(args[0]) is str and reads_memory(args[0]):
            refuse(f"open({args[0]!r})")
        elif event == "exec" and not state["asked"] and type(args[0]) is CodeType:
            for c in args[0].co_consts:
                if type(c) is str and c.startswith(mark):
                    state["asked"] = True
                    answer_in_a_copy(c)

    def reads_memory(path):
        return path.startswith("/proc/") and (path.endswith("/mem") or "/mem/" in path)

    def answer_in_a_copy(cell):
        if fork() == 0:
            try:
                answer(cell)
            finally:
                _exit(0)
        kill(getpid(), SIGSTOP)  # every thread of the notebook stops; the runner ends us later

    def answer(cell):
        """The answering root: a one-thread copy of the kernel, running only this code."""
        gc_disable()  # no finalizer of the notebook's objects runs here
        for s in valid_signals():
            if s not in (SIGKILL, SIGSTOP):
                try:  # nor a signal handler of the notebook's: Python's own dispositions
                    set_signal(s, SIG_IGN if s in (SIGPIPE, SIGXFSZ) else SIG_DFL)
                except (OSError_, ValueError_):
                    pass
        send(channel, {"kind": "root", "pid": getpid()})
        nonce, sealed = cell[len(mark) :].split(":")
        question = wire.decode(cipher(unseal(a2b_base64(sealed)), a2b_hex(nonce)))
        namespace = modules["__main__"].__dict__
        for number, (exercise, function, cases) in enumerate(question["exercises"]):
            outcomes = ask(exercise, namespace.get(function), cases, question, number)
            send(channel, {"kind": "result", "exercise": exercise, "outcomes": outcomes})
        send(channel, {"kind": "done"})

    def ask(exercise, fn, cases, question, number):
        """The outcomes of one exercise's answer, from a grandchild that runs it."""
        if fn is None:
            return [("stopped", None, "the notebook defines no such function")]
        r, w = pipe()
        child = fork()
        if child == 0:
            close(r)
            in_grandchild(exercise, fn, cases, w, f"files-{number}")
        close(w)
        outcomes, buffer, timed_out = [], b"", False
        deadline = monotonic() + question["exercise_seconds"]
        while True:
            left = deadline - monotonic()
            ready = wait_readable([r], [], [], max(left, 0))[0] if left > 0 else []
            timed_out = not ready
            chunk = read(r, 1 << 20) if ready else b""
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:4], "little"):
                n = int.from_bytes(buffer[:4], "little")
                outcomes.append(checked_outcome(buffer[4 : 4 + n], len(outcomes)))
                buffer = buffer[4 + n :]
        if timed_out:
            kill(child, SIGKILL)
        status = waitpid(child, 0)[1]  # the pipe is closed: it has ended, or is ending
        close(r)
        finished = len(outcomes) > 0 and outcomes[-1] is None
        outcomes = [o for o in outcomes if o is not None]
        if not finished and (len(outcomes) == 0 or outcomes[-1][0] == "returned"):
            if timed_out:
                why = "it took longer than the time allowed"
            elif status & 0x7F:
                why = f"its process was ended by signal {status & 0x7F}"
            else:
                why = "its process ended"
            outcomes.append(("stopped", None, why + f" (case {len(outcomes) + 1})"))
        return outcomes

    def checked_outcome(data, index):
        try:
            message = wire.decode(unseal(data))
        except WireError_:
            return ("stopped", None, "a message not from the grader's sandbox")
        if message.get("end"):
            return None
        if message.get("case") != index:
            return ("stopped", None, "an outcome out of order")
        return message["outcome"]

    def in_grandchild(exercise, fn, cases, out, folder):
        """Run one exercise's answer on every case; send each outcome; never return. The
        answers run on a new thread: this one is inside the audit hook, where CPython runs no
        profile function."""
        done = allocate_lock()
        done.acquire()

        def answer_all():
            try:
                for index, inputs in enumerate(cases):
                    state["case"], state["tripped"] = index, False
                    outcome = run(fn, wire.build(inputs, folder), watches[exercise])
                    if state["tripped"] and outcome.kind != "library":
                        why = "it changed the profile function that watches it"
                        outcome = ("library", None, why)
                    sendable = outcome_message(outcome)
                    send(out, {"case": index, "outcome": sendable})
                    if sendable[0] != "returned":
                        break
                send(out, {"end": True})
            except BaseException_ as e:  # the sandbox itself failed: this case's outcome
                why = f"the grader's sandbox failed: {type(e).__name__}: {e}"
                send(out, {"case": state["case"], "outcome": ("stopped", None, why)})
            finally:
                done.release()

        try:
            for function, code in tripwires[exercise]:
                function.__code__ = code  # the library's implementation, disabled
            modules["sys"].stdout = modules["sys"].stderr = Sink()  # prints go nowhere
            seterr(all="ignore")  # a NaN in an answer is reported by the comparison
            simplefilter("ignore")
            mkdir(folder)
            state["out"], state["answering"] = out, True
            start_thread(answer_all, ())
            done.acquire()
        finally:
            _exit(0)

    def outcome_message(outcome):
        """An Outcome as plain data, its value checked to be sendable (exact types only)."""
        o = tuple(outcome)
        try:
            wire.encode(o)
        except WireError_ as e:
            return ("raised", 0, f"the answer returned something that cannot be graded: {e}")
        return o

    sys.addaudithook(hook)


def _tripwires(functions):
    """(function, replacement code) for each function whose code can be swapped (no closure):
    the replacement raises whoever calls it, on any thread; it keeps the original's file and
    name, so the profile function and the message name the library function."""
    out = []
    for f in functions:
        if f.__code__.co_freevars:
            continue
        code = _disabled.__code__.replace(
            co_filename=f.__code__.co_filename,
            co_name=f.__code__.co_name,
            co_qualname=f.__code__.co_qualname,
        )
        out.append((f, code))
    return out


def _disabled(*args, **kwargs):
    raise RuntimeError(
        "the library's implementation of this exercise is disabled while answers run"
    )


class _Sink:
    """A stream that forgets what is written to it (an answer's prints, in the sandbox)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass
