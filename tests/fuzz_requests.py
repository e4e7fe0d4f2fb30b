"""Hostile requests for every RPC, built from the proto descriptors, and one way to send them.

Shared by the fuzz suite (tests/services/test_fuzz_rpcs.py) and bench/fuzz.py;
``tests/conftest.py`` puts this folder on ``sys.path`` (the bench does the same).

:func:`message_bytes` is a Hypothesis strategy for the serialized requests of one RPC, of two
kinds: *well-typed* messages drawn field by field from the message descriptor (strings empty,
plausible, huge or full of odd characters; integers at their type's extremes; floats including
NaN, infinity and 3e38; repeated fields of varied length; nested messages, maps and oneofs), and
*malformed* bytes (random bytes, or a well-typed encoding with invalid UTF-8 spliced into it or
cut short). Requests go out as bytes through ``channel.unary_unary`` (or the streaming kinds) with
identity serializers, so the server sees exactly what was drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from services.security.policy_matrix import Rpc

MAX_DEPTH = 3
STREAM_TIMEOUT_S = 10.0
READ_AT_MOST = 1
"""Responses read from a server stream before the client cancels (WatchStatus waits for the
next change after its first)."""

_ODD_STRINGS = (
    "",
    " ",
    "../../etc/passwd",
    "/",
    "a/../../b",
    "\x00",
    "'\"\\",
    "\u202e\u0000\ufeff",
    "99999999999999999999999",
    "-1",
    "NaN",
    "x" * 10_000,
    "é" * 3000,
    "%s%n{0}",
)
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_VECTOR_LENGTHS = (0, 1, 3, 4, 8, 128, 2000)


@dataclass(frozen=True)
class Hints:
    """What reaches past the first checks: ids, versions and names the system knows, and valid
    calls per full method name (each a list of request messages) that :func:`mutated` changes."""

    strings: Sequence[str] = ()
    numbers: Sequence[int] = (0, 1, 2)
    calls: Mapping[str, Sequence[Sequence[Message]]] = field(default_factory=dict)


def _strings(hints: Hints) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(hints.strings or [""]),
        st.sampled_from(_ODD_STRINGS),
        st.text(max_size=40),
        st.text(min_size=200, max_size=2000),
    )


def _integers(low: int, high: int, hints: Hints) -> st.SearchStrategy[int]:
    small = [n for n in hints.numbers if low <= n <= high]
    edges = [low, high, low + 1, high - 1, *(v for v in (0, 1, -1) if low <= v <= high)]
    return st.one_of(st.sampled_from([*small, *edges]), st.integers(low, high))


def _floats(width: int) -> st.SearchStrategy[float]:
    edges = [0.0, -0.0, 1.0, 3e38, -3e38, 1e-45, float("nan"), float("inf"), float("-inf")]
    return st.one_of(st.sampled_from(edges), st.floats(width=width))  # type: ignore[arg-type]


def _scalar(field: FieldDescriptor, hints: Hints) -> st.SearchStrategy[object]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _strings(hints)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.just(b""), st.binary(min_size=1000))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_FLOAT:
        return _floats(32)
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return _floats(64)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1))
    low, high = _INT_RANGES[kind]
    return _integers(low, high, hints)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, hints: Hints, depth: int = 0) -> Message:
    message = GetMessageClass(descriptor)()
    for fd in descriptor.fields:
        if not draw(st.booleans()):
            continue
        target = getattr(message, fd.name)
        if _is_map(fd):
            key = fd.message_type.fields_by_name["key"]
            value = fd.message_type.fields_by_name["value"]
            if value.type == FieldDescriptor.TYPE_MESSAGE:
                for k in draw(st.lists(_scalar(key, hints), max_size=3)):
                    target[k].CopyFrom(draw(_message(value.message_type, hints, MAX_DEPTH)))
            else:
                entries = draw(
                    st.dictionaries(_scalar(key, hints), _scalar(value, hints), max_size=4)
                )
                for k, v in entries.items():
                    target[k] = v
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= MAX_DEPTH:
                continue
            nested = _message(fd.message_type, hints, depth + 1)
            if fd.is_repeated:
                target.extend(draw(st.lists(nested, max_size=4)))
            else:
                target.CopyFrom(draw(nested))
        elif fd.is_repeated:
            if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
                length = draw(st.sampled_from(_VECTOR_LENGTHS))
                edge = draw(_scalar(fd, hints))
                values = draw(st.lists(_scalar(fd, hints), max_size=4))
                target.extend([*values, *[edge] * max(0, length - len(values))][:length])
            else:
                target.extend(draw(st.lists(_scalar(fd, hints), max_size=5)))
        else:
            setattr(message, fd.name, draw(_scalar(fd, hints)))
    return message


def well_typed(rpc: Rpc, hints: Hints) -> st.SearchStrategy[bytes]:
    """One serialized request message of ``rpc``, drawn field by field."""
    return _message(rpc.request_type.DESCRIPTOR, hints).map(lambda m: m.SerializeToString())


@st.composite
def malformed(draw: st.DrawFn, rpc: Rpc, hints: Hints) -> bytes:
    """Bytes that are not a valid message of ``rpc``: random, or a valid encoding damaged."""
    how = draw(st.sampled_from(("random", "bad-utf8", "cut")))
    if how == "random":
        return draw(st.binary(min_size=1, max_size=256))
    valid = draw(well_typed(rpc, hints))
    if how == "cut" and len(valid) > 1:
        return valid[: draw(st.integers(1, len(valid) - 1))]
    # A string field (number 1..15, wire type 2) holding bytes that are not UTF-8.
    number = draw(st.integers(1, 15))
    junk = draw(st.sampled_from((b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80")))
    return valid + bytes([number << 3 | 2, len(junk)]) + junk


@st.composite
def _changed(draw: st.DrawFn, base: Message, hints: Hints, depth: int = 0) -> Message:
    """``base`` with one field (at any depth) replaced by a drawn value."""
    message = type(base)()
    message.CopyFrom(base)
    fd = draw(st.sampled_from(list(base.DESCRIPTOR.fields)))
    nested = fd.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(fd)
    if nested and depth < MAX_DEPTH and not fd.is_repeated and message.HasField(fd.name):
        getattr(message, fd.name).CopyFrom(draw(_changed(getattr(base, fd.name), hints, depth + 1)))
        return message
    items = getattr(message, fd.name)
    if nested and fd.is_repeated and len(items) and draw(st.booleans()):
        at = draw(st.integers(0, len(items) - 1))
        items[at].CopyFrom(draw(_changed(items[at], hints, depth + 1)))
        return message
    drawn = draw(_message(base.DESCRIPTOR, hints, depth))
    message.ClearField(fd.name)
    if fd.is_repeated or nested:
        getattr(message, fd.name).MergeFrom(getattr(drawn, fd.name))
    else:
        setattr(message, fd.name, getattr(drawn, fd.name))
    return message


@st.composite
def mutated(draw: st.DrawFn, rpc: Rpc, hints: Hints) -> list[bytes]:
    """A valid call of ``rpc`` (from ``hints.calls``) with one message changed, or dropped or
    repeated in a stream; a valid call as it is now and then."""
    call = list(draw(st.sampled_from(hints.calls[rpc.full_name])))
    how = draw(st.sampled_from(("change", "change", "change", "as-is", "drop", "repeat")))
    at = draw(st.integers(0, len(call) - 1))
    if how == "change":
        call[at] = draw(_changed(call[at], hints))
    elif rpc.client_streaming and how == "drop":
        del call[at]
    elif rpc.client_streaming and how == "repeat":
        call.insert(at, call[at])
    return [message.SerializeToString() for message in call]


def request_bytes(rpc: Rpc, hints: Hints) -> st.SearchStrategy[list[bytes]]:
    """The request messages of one call: one, or (client streaming) a list of 0 to 4; half of
    them valid calls changed a little where ``hints`` has valid calls of the method."""
    typed = well_typed(rpc, hints)
    one = st.one_of(typed, typed, typed, malformed(rpc, hints))  # 3 in 4 well-typed
    drawn = st.lists(one, max_size=4) if rpc.client_streaming else one.map(lambda d: [d])
    if rpc.full_name in hints.calls:
        return st.one_of(drawn, mutated(rpc, hints))
    return drawn


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class Outcome:
    """How one call ended: its status code and message ('' when it succeeded)."""

    code: grpc.StatusCode
    details: str = ""


def send(channel: grpc.Channel, rpc: Rpc, messages: Sequence[bytes]) -> Outcome:
    """Sends one call of ``rpc`` as raw bytes; how it ended.

    A server stream is read for at most :data:`READ_AT_MOST` responses, then cancelled: a call
    that sent that many ended OK as far as the fuzz is concerned.
    """
    method = rpc.full_name
    try:
        if not rpc.server_streaming:
            if rpc.client_streaming:
                channel.stream_unary(method, _identity, _identity)(
                    iter(messages), timeout=STREAM_TIMEOUT_S
                )
            else:
                channel.unary_unary(method, _identity, _identity)(
                    messages[0], timeout=STREAM_TIMEOUT_S
                )
            return Outcome(grpc.StatusCode.OK)
        call = (
            channel.stream_stream(method, _identity, _identity)(
                iter(messages), timeout=STREAM_TIMEOUT_S
            )
            if rpc.client_streaming
            else channel.unary_stream(method, _identity, _identity)(
                messages[0], timeout=STREAM_TIMEOUT_S
            )
        )
        for read, _response in enumerate(call, start=1):
            if read >= READ_AT_MOST:
                call.cancel()
                break
    except grpc.RpcError as exc:
        return Outcome(exc.code(), str(exc.details() or ""))
    return Outcome(grpc.StatusCode.OK)
