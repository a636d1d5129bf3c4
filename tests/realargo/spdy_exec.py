"""The kubelet's ``/exec`` endpoint, as far as Argo's controller uses it: SPDY/3.1 streams, kill commands.

Argo's controller signals containers (on stop, on a deadline, and to the others once one exits non-zero)
by ``pods/exec`` of ``/var/run/argo/argoexec kill <signal> 1`` or of the pod's
``workflows.argoproj.io/kill-cmd-<container>`` command (``workflow/signal/signal.go``), with client-go's
SPDY executor (remotecommand protocol v4: an error stream, then stdout and stderr). The API server proxies
the upgraded connection to the kubelet unchanged. This module answers it: the 101 upgrade, SYN_REPLY for
each stream the client opens, and at the end a ``metav1.Status`` on the error stream.

The command runs as a container runtime would run it in the container, with one difference the node agent
needs: its containers share one PID namespace, so "PID 1 of the container" is the container's first
process (Argo's emissary), found by the agent. Only the kill commands Argo sends are carried out (a
``kill``/``argoexec kill`` of PID 1 with a signal number); anything else is answered with a Failure status.

SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00): control frames ``0x8003 type flags length``, data frames
``stream-id flags length``. Header blocks are zlib streams; the client's use the protocol's dictionary,
which this side never needs to read (client-go opens the streams in a fixed order), and its own carry no
headers (a plain zlib stream, which a dictionary-aware reader accepts).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")


def kill_signal(command: list[str]) -> int | None:
    """The signal number of an Argo kill command aimed at PID 1, else None.

    ``["/var/run/argo/argoexec", "kill", "15", "1"]``, ``["/bin/sh", "-c", "kill -15 1"]``, ``["kill", "-9", "1"]``.
    """
    words = command[2].split() if len(command) == 3 and command[1] == "-c" else list(command)
    if len(words) == 4 and words[0].endswith("argoexec") and words[1] == "kill" and words[3] == "1":
        return int(words[2]) if words[2].isdigit() else None
    if len(words) == 3 and words[0].endswith("kill") and words[2] == "1":
        match = re.fullmatch(r"-(\d+)", words[1])
        return int(match.group(1)) if match else None
    return None


def negotiate(offered: str) -> str | None:
    """The remotecommand protocol to speak, from the client's ``X-Stream-Protocol-Version`` list."""
    names = [p.strip() for p in offered.split(",") if p.strip()]
    return next((p for p in PROTOCOLS if p in names), None)


class SpdyConnection:
    """Server side of one upgraded connection: reads frames from ``rfile``, writes to ``write``."""

    def __init__(self, rfile, write: Callable[[bytes], None]):
        self.rfile = rfile
        self.write = write
        self.compressor = zlib.compressobj()

    def read_frame(self) -> tuple[bool, int, int, bytes] | None:
        """(control, type or stream id, flags, payload), or None at end of stream."""
        head = self.rfile.read(8)
        if len(head) < 8:
            return None
        first, word = struct.unpack(">II", head)
        flags, length = word >> 24, word & 0xFFFFFF
        payload = self.rfile.read(length) if length else b""
        if first & 0x80000000:
            return True, first & 0xFFFF, flags, payload
        return False, first & 0x7FFFFFFF, flags, payload

    def control(self, kind: int, flags: int, payload: bytes) -> None:
        self.write(struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload)

    def data(self, stream_id: int, payload: bytes, fin: bool = False) -> None:
        self.write(struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(payload))
                   + payload)

    def reply(self, stream_id: int) -> None:
        """SYN_REPLY with no headers (a zero count, compressed on the connection's zlib stream)."""
        block = self.compressor.compress(struct.pack(">I", 0)) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        self.control(SYN_REPLY, 0, struct.pack(">I", stream_id & 0x7FFFFFFF) + block)

    def serve(self, stream_names: list[str], run: Callable[[], dict]) -> None:
        """Answer the client's streams (opened in ``stream_names`` order), ``run()``, send its status, close."""
        streams: dict[str, int] = {}
        while len(streams) < len(stream_names):
            frame = self.read_frame()
            if frame is None:
                return
            control, kind, flags, payload = frame
            if not control:
                continue  # stdin data: none is expected
            if kind == SYN_STREAM:
                stream_id = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                streams[stream_names[len(streams)]] = stream_id
                self.reply(stream_id)
            elif kind == PING:
                self.control(PING, 0, payload)
            elif kind == GOAWAY:
                return
        status = run()
        for name in ("stdout", "stderr"):
            if name in streams:
                self.data(streams[name], b"", fin=True)
        self.data(streams["error"], json.dumps(status).encode(), fin=True)
        self.control(GOAWAY, 0, struct.pack(">II", 0, 0))


def exec_status(error: str | None, exit_code: int = 0) -> dict:
    """The ``metav1.Status`` client-go's v4 error decoder reads: Success, or Failure with an exit code."""
    if error is None:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": error, "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
