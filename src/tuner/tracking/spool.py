"""A local spool of MLflow calls that could not be sent: one JSON-lines file per process under
``experiments/<name>/spool/``, the files those calls log beside it, locked while its process lives.

The tracker appends a call here when the tracking store does not answer, and sends the calls in order
once it answers again; a later invocation sends what a dead process left behind (``leftovers``).

Example::

    spool = Spool.create(Path("experiments/digits_cnn/spool"))
    spool.keep("log_epoch", {"run_id": "ab12", "epoch": 0, "metrics": {"loss": 0.5}})
    spool.keep("log_file", {"run_id": "ab12", "path": "/tmp/x/curves.png", "artifact_path": None})  # copied in
    ops = spool.ops  # [{"op": "log_epoch", "args": {...}}, ...]; spool.sent(2) once they are sent
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"
CORRUPT = ".corrupt"
FILE_ARGS = ("path", "folder")  # arguments that name a local file or folder: copied into the spool


@dataclass
class Spool:
    """One process's spool file (``path``, locked by ``handle``) and its folder of copied files."""

    path: Path
    handle: IO[str] = field(repr=False)
    ops: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path) -> Spool:
        """A new empty spool of this process in ``folder``; the file appears with the first kept call."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        handle = path.open("a+")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: no one else holds it
        return cls(path, handle)

    @property
    def files(self) -> Path:
        """Where the kept calls' files are copied."""
        return self.path.with_suffix("")

    def keep(self, op: str, args: dict[str, Any]) -> None:
        """Append the call ``op(**args)``, its files copied into the spool first; written through to disk.

        Raises OSError (the disk is full) with nothing half-kept: the call is not in the spool then."""
        args = dict(args)
        for name in FILE_ARGS:
            if args.get(name):
                args[name] = str(self._copy(Path(args[name])))
        line = json.dumps({"op": op, "args": args}, default=str)
        self.handle.seek(0, os.SEEK_END)
        self.handle.write(line + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.ops.append({"op": op, "args": args})

    def _copy(self, source: Path) -> Path:
        target = self.files / uuid.uuid4().hex[:12] / source.name
        target.parent.mkdir(parents=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return target

    def sent(self, n: int) -> None:
        """The first ``n`` calls were sent: drop them, and their files; the file is rewritten atomically."""
        if self.handle.closed:  # closed at the end of the invocation, while a last send was on its way
            return
        done, self.ops = self.ops[:n], self.ops[n:]
        for op in done:
            for name in FILE_ARGS:
                if op["args"].get(name):
                    shutil.rmtree(Path(op["args"][name]).parent, ignore_errors=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(op, default=str) + "\n" for op in self.ops))
        os.replace(tmp, self.path)
        # the lock is on the old inode: take it on the new file (no one else can have it, it was just made)
        old, self.handle = self.handle, self.path.open("a+")
        fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        old.close()
        if not self.ops:
            shutil.rmtree(self.files, ignore_errors=True)

    def close(self) -> None:
        """Release the lock; an empty spool leaves nothing behind."""
        if not self.ops:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.files, ignore_errors=True)
        self.handle.close()


def leftovers(folder: Path) -> Iterator[Spool]:
    """The spools in ``folder`` that no living process holds, each locked while the caller sends it.

    A file that does not parse is renamed ``<name>.corrupt`` with a warning and skipped: nothing else is lost.
    """
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            handle = path.open("a+")
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process still runs
            handle.close()
            continue
        try:
            if not path.exists() or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
                handle.close()  # another invocation sent it (and removed or rewrote it) while this one waited
                continue
            handle.seek(0)
            ops = [json.loads(line) for line in handle if line.strip()]
            if not all(isinstance(op, dict) and isinstance(op.get("op"), str) and isinstance(op.get("args"), dict)
                       for op in ops):
                raise ValueError("a line is not a tracking call")
        except ValueError as err:
            aside = path.with_name(path.name + CORRUPT)
            os.replace(path, aside)
            handle.close()
            log.warning("the tracking spool %s is corrupt (%s): set aside as %s; the calls in it are not sent",
                        path, err, aside.name)
            continue
        yield Spool(path, handle, ops)
