"""`python -m tinytransformer.exercises.runner`: run one submitted notebook for the grader, then
ask its functions the grader's question. The grader starts it in a new session, in the
notebook's own empty working folder, and never runs a notebook's code in its own process.

    stdin   one wire value: {"notebook": the .ipynb text, "question": bytes (wire: the
            exercises, their functions' names and cases, "exercise_seconds" for each exercise's
            answers), "timeout": seconds for the cells, "answer_seconds": then for the
            answers, "output_limit": bytes of cell output kept, "memory": RLIMIT_AS in bytes or
            None, "file_size": RLIMIT_FSIZE in bytes}
    stdout  one wire value: {"problem": what went wrong with the run ("" if nothing),
            "executed": the notebook with its outputs (JSON text), "results": [bytes, ...]
            (each a wire value {"exercise": id, "outcomes": [...]}), "kernel": its pid}

In order: harden this process (processes.harden); start the kernel (kernel.py) with an arming
file holding a fresh key and the write end of a pipe, the channel; run every code cell with
jupyter_client, outputs kept up to output_limit, the kernel interrupted at the deadline; end
every other process of the notebook; send the question cell (sandbox.question_cell: encrypted,
so no code of the notebook can read it before it is asked); collect the sealed results from the
channel, ending any process that is not answering meanwhile; reply.
"""

import json
import os
import queue
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

from tinytransformer.exercises import processes
from tinytransformer.exercises.sandbox import ARMING, question_cell
from tinytransformer.exercises.wire import CODEC, WireError, sealing

KERNEL = [sys.executable, "-P", "-m", "tinytransformer.exercises.kernel", "-f", "{connection_file}"]
MESSAGE_LIMIT = 64 << 20  # bytes: the largest message read from the kernel (zmq drops more)
CHANNEL_LIMIT = 256 << 20  # bytes read from the channel in all
INTERRUPT_SECONDS = 5  # for a kernel to come back after an interrupt
KERNEL_START_SECONDS = 60  # for a kernel to be ready


class SandboxKernel(KernelManager):
    """A KernelManager that starts kernel.py (the sandbox armed first) whatever is installed."""

    @property
    def kernel_spec(self):
        return KernelSpec(argv=KERNEL, display_name="tinytransformer grader", language="python")


class Channel:
    """The read end of the pipe from the sandbox: sealed, length-prefixed messages, read on a
    thread of their own, each checked and decoded (anything else is noted as interference)."""

    def __init__(self, fd, unseal):
        self.messages, self.problem, self.unseal = queue.Queue(), "", unseal
        self.thread = threading.Thread(target=self.read, args=(fd,), daemon=True)
        self.thread.start()

    def read(self, fd):
        buffer, total = b"", 0
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(1 << 20)
                if not chunk:
                    return
                total += len(chunk)
                if total > CHANNEL_LIMIT:
                    self.problem = f"the answers came to more than {CHANNEL_LIMIT >> 20} MB"
                    return
                buffer += chunk
                while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:4], "little"):
                    n = int.from_bytes(buffer[:4], "little")
                    self.accept(buffer[4 : 4 + n])
                    buffer = buffer[4 + n :]

    def accept(self, data):
        try:
            message = CODEC.decode(self.unseal(data))
        except WireError:
            self.problem = "a message on the grader's channel was not from its sandbox"
            return
        if isinstance(message, dict) and isinstance(message.get("kind"), str):
            self.messages.put(message)


class Notebook:
    """The submitted notebook, run cell by cell in the sandboxed kernel."""

    def __init__(self, request, folder):
        self.request = request
        self.nb = json.loads(request["notebook"])
        self.output_left = request["output_limit"]
        self.problems, self.errors = [], []
        self.key = secrets.token_bytes(32)
        seal, self.unseal, self.cipher = sealing(self.key)
        self.seal = seal
        read_end, write_end = os.pipe()
        arming = Path(folder) / "arming"
        arming.write_bytes(CODEC.encode({"key": self.key, "channel": write_end}))
        self.km = SandboxKernel(
            transport="ipc",
            ip=str(Path(folder) / "kernel"),
            connection_file=str(Path(folder) / "kernel.json"),
        )
        self.km.context = zmq.Context()
        self.km.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)
        log = open(Path(folder) / "kernel.log", "wb")  # noqa: SIM115 -- the kernel's to close
        env = {**os.environ, ARMING: str(arming)}
        self.km.start_kernel(
            cwd=os.getcwd(), env=env, stdout=log, stderr=log, pass_fds=(write_end,)
        )
        os.close(write_end)
        log.close()
        self.channel = Channel(read_end, self.unseal)
        self.kc = self.km.client()
        self.kc.start_channels()

    @property
    def kernel_pid(self):
        return self.km.provisioner.pid

    def run(self, seconds):
        """Run every code cell, `seconds` for them all from when the kernel is ready -> True if
        the kernel can still be asked."""
        try:
            self.kc.wait_for_ready(timeout=KERNEL_START_SECONDS)
        except RuntimeError:
            self.problems.append(f"the kernel did not start ({self.refused() or 'no reason'})")
            return False
        deadline = time.monotonic() + seconds
        cells = [c for c in self.nb.get("cells", []) if c.get("cell_type") == "code"]
        for number, cell in enumerate(cells, 1):
            source = "".join(cell.get("source", ""))
            cell["outputs"], cell["execution_count"] = [], number
            state = self.execute(source, cell["outputs"], deadline)
            self.errors += [o for o in cell["outputs"] if o["output_type"] == "error"]
            if state == "done":
                continue
            if state == "died":
                why = self.refused()
                self.problems.append(f"the kernel died in cell {number}{why and ': ' + why}")
                return False
            seconds = self.request["timeout"]
            self.problems.append(f"timed out after {seconds:g} s (in cell {number})")
            return self.interrupt()
        return True

    def errors_problem(self):
        """'2 cell(s) raised errors (first: NameError: ...)', or ''."""
        if not self.errors:
            return ""
        first = f"{self.errors[0]['ename']}: {self.errors[0]['evalue']}"[:300]
        limits = []
        if any(e["ename"] == "MemoryError" for e in self.errors):
            limits.append(f"over the memory limit of {self.request['memory'] / (1 << 30):g} GiB")
        if any("File too large" in str(e["evalue"]) for e in self.errors):
            limits.append(f"a file over the limit of {self.request['file_size'] >> 20} MiB")
        also = f"; {', '.join(limits)}" if limits else ""
        return f"{len(self.errors)} cell(s) raised errors (first: {first}){also}"

    def refused(self):
        """What the sandbox stopped the kernel for, if it did."""
        try:
            while True:
                message = self.channel.messages.get_nowait()
                if message["kind"] == "refused":
                    return f"it called {message.get('what')}, which grading does not allow"
        except queue.Empty:
            return ""

    def execute(self, source, outputs, deadline):
        """Run one cell -> "done", "died" or "timeout"; its outputs appended to `outputs`."""
        msg_id = self.kc.execute(source, store_history=True, allow_stdin=False, stop_on_error=False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    return "died"
                continue
            try:
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content.get("execution_state") == "idle":
                    return "done"
                self.keep(kind, content, outputs)
            except (KeyError, TypeError, AttributeError):
                continue  # a malformed message: the kernel is the notebook's

    def keep(self, kind, content, outputs):
        """Append one output to the cell's outputs, as nbformat stores it, within the limit."""
        if kind == "clear_output":
            outputs.clear()
            return
        if kind == "stream":
            out = {
                "output_type": "stream",
                "name": str(content["name"]),
                "text": str(content["text"]),
            }
        elif kind in ("display_data", "execute_result"):
            out = {"output_type": kind, "data": dict(content["data"]), "metadata": {}}
            if kind == "execute_result":
                out["execution_count"] = content.get("execution_count")
        elif kind == "error":
            out = {
                "output_type": "error",
                "ename": str(content["ename"]),
                "evalue": str(content["evalue"]),
                "traceback": list(content["traceback"]),
            }
        else:
            return
        size = len(json.dumps(out))
        if size > self.output_left:
            if self.output_left > 0:
                limit = self.request["output_limit"]
                self.problems.append(f"more than {limit} bytes of output: the rest was cut")
                outputs.append(
                    {
                        "output_type": "stream",
                        "name": "stderr",
                        "text": f"[output cut by the grader: over {limit} bytes]\n",
                    }
                )
            self.output_left = 0
            return
        self.output_left -= size
        outputs.append(out)

    def interrupt(self):
        """Interrupt the running cell -> True if the kernel came back."""
        self.km.interrupt_kernel()
        msg_id = self.kc.execute("pass", store_history=False)
        end = time.monotonic() + INTERRUPT_SECONDS
        while time.monotonic() < end:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if (
                msg.get("parent_header", {}).get("msg_id") == msg_id
                and msg.get("content", {}).get("execution_state") == "idle"
            ):
                return True
        self.problems.append("the kernel did not stop when interrupted: the answers were not asked")
        return False

    def ask(self, deadline):
        """Send the question; collect the results until "done" or the deadline -> the results."""
        token = os.environ.get(TOKEN, "")
        kernel = self.kernel_pid
        processes.end_all({os.getpid(), kernel}, token, roots=[os.getpid()], keep={kernel})
        nonce = secrets.token_bytes(16)
        sealed = self.seal(self.cipher(self.request["question"], nonce))
        asked = self.kc.execute(question_cell(nonce, sealed), store_history=False)
        results, root = [], None
        while time.monotonic() < deadline:
            try:
                message = self.channel.messages.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None and message["kind"] == "root" and root is None:
                root = message.get("pid")
            elif message is not None and message["kind"] == "result":
                results.append(CODEC.encode(message))
            elif message is not None and message["kind"] == "done":
                return results
            if root is not None:  # nothing but the answering copies runs from now on
                processes.end_all(
                    {os.getpid(), kernel},
                    token,
                    roots=[os.getpid()],
                    keep={kernel},
                    spare={root},
                    rounds=1,
                )
            elif not self.km.is_alive() or self.idle(asked):
                break
        if root is None:
            self.problems.append(
                "the question was not answered: the notebook's kernel did not "
                "run it (it was changed, or the kernel ended)"
            )
        else:
            self.problems.append("the answers stopped before they were all given")
        return results

    def idle(self, asked):
        """Whether the kernel finished the question cell without answering (the notebook
        changed how its cells run): an armed kernel stops itself instead."""
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                return False
            parent = msg.get("parent_header", {}).get("msg_id")
            if parent == asked and msg.get("content", {}).get("execution_state") == "idle":
                return True

    def executed(self):
        return json.dumps(self.nb, indent=1, ensure_ascii=False)


TOKEN = "TINYTRANSFORMER_GRADE_RUN"  # set by the grader: every process of one run carries it


def main():
    processes.harden()
    request = CODEC.decode(sys.stdin.buffer.read())
    processes.limit(request.get("memory"), request.get("file_size"))
    results, nb = [], None
    with tempfile.TemporaryDirectory(prefix="tinytransformer-runner-") as folder:
        try:
            nb = Notebook(request, folder)
            if nb.run(request["timeout"]):
                results = nb.ask(time.monotonic() + request["answer_seconds"])
        except Exception as e:  # the run's problem, never the grader's crash
            problems = [*(nb.problems if nb else []), f"the run failed: {type(e).__name__}: {e}"]
        else:
            problems = [nb.errors_problem(), *nb.problems]
        reply = {
            "problem": "; ".join(p for p in problems if p),
            "executed": nb.executed() if nb else "",
            "results": results,
            "kernel": nb.kernel_pid if nb else 0,
        }
        sys.stdout.buffer.write(CODEC.encode(reply))
        sys.stdout.buffer.flush()
        if nb is not None:
            nb.kc.stop_channels()
    kernel = {nb.kernel_pid} if nb is not None and nb.kernel_pid else set()
    processes.end_all({os.getpid(), *kernel}, os.environ.get(TOKEN, ""), roots=[os.getpid()])


if __name__ == "__main__":
    main()
