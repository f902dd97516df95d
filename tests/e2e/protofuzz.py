"""Hypothesis strategies for any protobuf message, generated from its descriptor: every field of
every request, with the values that break services (NUL bytes, 1 MB strings, paths and URIs that
point outside, resource names of the wrong kind, huge, negative and non-finite numbers, unknown enum
numbers, out-of-range timestamps), mixed with ordinary random values."""

from __future__ import annotations

import math

from google.protobuf import descriptor as d
from google.protobuf import message_factory
from hypothesis import strategies as st

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\n",
    "\t\r\x07\x1b[31m",
    "x" * 1_000_000,  # 1 MB
    "y" * 70_000,
    "../../../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "file:///proc/self/environ",
    "file:///",
    "file://other-host/x",
    "s3://",
    "s3://bucket/../../x",
    "http://169.254.169.254/latest/meta-data/",
    "gs://bucket/x",
    "C:\\Windows\\win.ini",
    "cloudAccounts/",
    "cloudAccounts/..",
    "cloudAccounts/00000000-0000-0000-0000-000000000000",
    "cloudAccounts/not-a-uuid",
    "cloudAccounts/00000000-0000-0000-0000-000000000000/findings/x",
    "scanRuns/00000000-0000-0000-0000-000000000000",
    "findings/00000000-0000-0000-0000-000000000000",
    "exportRuns/00000000-0000-0000-0000-000000000000",
    "trainingRuns/ffffffff-ffff-ffff-ffff-ffffffffffff",
    "modelVersions/waste/999999999999999999999",
    "modelVersions/waste/-1",
    "arn:aws:iam::123456789012:role/x",
    "arn:aws:iam::12345678901x:role/" + "r" * 200,
    "' OR 1=1 --",
    "'; DROP TABLE findings; --",
    "%s%s%n%x",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "\u202eevil",
    "\ufeff",
    "🙂" * 100,
    "null",
    "NaN",
    "-1",
    "99999999999999999999999999",
    "state = DELETED AND",
    'provider = "aws" OR',
    "expected_monthly_saving desc, nope asc",
    "a" * 256,
]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [v for v in (lo, hi, 0, 1, -1, 50, 1000, 1001, 10**6, 10**9, -(10**6)) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def strings() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=40))


def doubles() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, -0.0, -1.0, 1e308, -1e308, math.inf, -math.inf, math.nan, 5e-324]),
        st.floats(allow_nan=True, allow_infinity=True),
    )


def _scalar(field: d.FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t == d.FieldDescriptor.TYPE_STRING:
        return strings()
    if t == d.FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.just(b"\x00" * 100_000))
    if t == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        s = doubles()
        if t == d.FieldDescriptor.TYPE_FLOAT:
            s = s.map(lambda v: v if not math.isfinite(v) or abs(v) < 3e38 else math.copysign(math.inf, v))
        return s
    if t == d.FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _ints(*INT32))  # unknown numbers too (open enums)
    if t in (d.FieldDescriptor.TYPE_INT32, d.FieldDescriptor.TYPE_SINT32, d.FieldDescriptor.TYPE_SFIXED32):
        return _ints(*INT32)
    if t in (d.FieldDescriptor.TYPE_INT64, d.FieldDescriptor.TYPE_SINT64, d.FieldDescriptor.TYPE_SFIXED64):
        return _ints(*INT64)
    if t in (d.FieldDescriptor.TYPE_UINT32, d.FieldDescriptor.TYPE_FIXED32):
        return _ints(*UINT32)
    if t in (d.FieldDescriptor.TYPE_UINT64, d.FieldDescriptor.TYPE_FIXED64):
        return _ints(*UINT64)
    raise NotImplementedError(field.full_name)


def _value(field: d.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.type == d.FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1)
    return _scalar(field)


def _is_map(field: d.FieldDescriptor) -> bool:
    return field.type == d.FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _repeated(field: d.FieldDescriptor) -> bool:
    return field.is_repeated


def _field_values(field: d.FieldDescriptor, depth: int) -> st.SearchStrategy:
    """Values for a whole field: a dict for a map, a list for a repeated field, else one value."""
    if _is_map(field):
        key, val = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(_value(key, depth), _value(val, depth), max_size=4)
    if _repeated(field):
        return st.lists(
            _value(field, depth), max_size=4 if field.type == d.FieldDescriptor.TYPE_MESSAGE else 8
        )
    return _value(field, depth)


def _assign(msg, field: d.FieldDescriptor, value) -> None:
    if _is_map(field):
        target = getattr(msg, field.name)
        target.clear()
        for k, v in value.items():
            if field.message_type.fields_by_name["value"].type == d.FieldDescriptor.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif _repeated(field):
        del getattr(msg, field.name)[:]
        getattr(msg, field.name).extend(value)
    elif field.type == d.FieldDescriptor.TYPE_MESSAGE:
        getattr(msg, field.name).CopyFrom(value)
    else:
        setattr(msg, field.name, value)


def messages(desc: d.Descriptor, depth: int = 0) -> st.SearchStrategy:
    """A message of type `desc` with a random subset of its fields set (nesting stops at depth 4)."""
    cls = message_factory.GetMessageClass(desc)
    if desc.full_name == "google.protobuf.Timestamp":
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n),
            st.one_of(st.sampled_from([0, -62135596801, 253402300800, 1_700_000_000]), _ints(*INT64)),
            st.one_of(st.sampled_from([0, -1, 10**9]), _ints(*INT32)),
        )
    if depth > 4:
        return st.just(cls())
    fields = [(field, _field_values(field, depth)) for field in desc.fields]

    @st.composite
    def build(draw):
        msg = cls()
        for field, strat in fields:
            if draw(st.booleans()):
                _assign(msg, field, draw(strat))
        return msg

    return build()


def leaf_paths(desc: d.Descriptor, depth: int = 0, prefix: tuple = ()) -> list[tuple]:
    """Every field of `desc` a mutation can replace, as paths of field descriptors: scalars, lists,
    maps and timestamps, down through singular sub-messages."""
    paths = []
    for field in desc.fields:
        path = (*prefix, field)
        nested = (
            field.type == d.FieldDescriptor.TYPE_MESSAGE
            and not _repeated(field)
            and field.message_type.full_name != "google.protobuf.Timestamp"
        )
        if nested and depth < 3:
            paths.append(path)  # the whole sub-message too
            paths.extend(leaf_paths(field.message_type, depth + 1, path))
        else:
            paths.append(path)
    return paths


def mutants(seed) -> st.SearchStrategy:
    """A valid request `seed` with one to three of its fields (at any depth) replaced by hostile
    values: reaches the checks behind the first one a random message would trip."""
    paths = leaf_paths(seed.DESCRIPTOR)
    values = {path: _field_values(path[-1], len(path)) for path in paths}

    @st.composite
    def build(draw):
        msg = type(seed)()
        msg.CopyFrom(seed)
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
            target = msg
            for field in path[:-1]:
                target = getattr(target, field.name)
            _assign(target, path[-1], draw(values[path]))
        return msg

    return build()
