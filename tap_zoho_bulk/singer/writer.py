"""Singer output: msgspec encoding, flushed when a target needs to see it, not after every line."""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage
from typing_extensions import override


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Like singer-sdk's MsgSpecWriter, but RECORD lines stay in stdout's buffer.

    A flush per record is a system call per record, a large share of a bulk export's CPU time.
    Every other message (SCHEMA, STATE, ...) still flushes at once, so a target never sees a
    STATE before the records it covers, and a killed tap never loses a STATE it has written.
    """

    @override
    def write_message(self, message: Message) -> None:
        """Write one message, flushing unless it is a record."""
        write_all(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


def write_all(data: bytes | bytearray) -> None:
    """Write every byte to stdout.

    A signal handled while a large write blocks on a full pipe (the SIGTERM that asks the tap
    to stop, say) makes `BufferedWriter.write` return after writing part of the data; the rest
    must be written, or a line is cut and every record after it lost.
    """
    out = sys.stdout.buffer
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]
