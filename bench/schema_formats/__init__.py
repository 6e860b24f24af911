"""Benchmark: payment-event bytes <-> validated immutable typed record.

Standalone (no broker); needs: msgspec orjson pydantic faust-streaming==0.15.3 aiokafka<0.15,
and the project's core for the contract's field list.
Run:  python -m bench.schema_formats   (a Python with orjson, e.g. .venv/bench-peer/bin/python;
      about 1 minute)

Options compared
  (a) msgspec.Struct(frozen=True) + msgspec.Meta constraints, msgspec.json.Decoder(Type)
  (b) orjson.loads + frozen slots dataclass + hand-written validation
  (c) pydantic v2 BaseModel (frozen, strict, Field constraints), model_validate_json
  (d) faust.Record(validation=True): faust validates only lengths/int ranges and
      silently coerces types, so it is combined with orjson.loads + the same manual
      checks as (b) before the record is built (faust's own validation is kept on).

Extra columns in the rejection matrix are *not* benchmarked; they show what goes
wrong with the obvious-but-naive configuration of each library:
  a:$      msgspec with ^...$ anchors (Python `$` also matches before a final "\\n")
  c:Lit    pydantic strict=True but `schema: Literal[1]`
  c:lax    pydantic with Literal[1] and without strict=True
  d:faust  faust.Record(validation=True).loads alone (no manual checks)

Event rules: schema == 1; event_id 1-64 of [A-Za-z0-9._:-]; occurred_at RFC 3339 with
offset (timezone-aware); source/segment/district slug [a-z0-9-]{1,64}; channel in
{utility, market, street}; method in METHODS; amount_vnd int 1..10**12 (no bool,
no float); payer optional (absent or null) 64-char lowercase hex. Extra fields are
allowed and ignored (not kept on the record, not re-emitted).

The modules: `contract` (what the options decode, from cashless/), one per option
(`a_msgspec`, `b_orjson`, `c_pydantic`, `d_faust`), `events` (the timed input), `cases` (the
rejection matrix's inputs), `measure` (timing, round trips, the matrix) and `__main__`.
"""
