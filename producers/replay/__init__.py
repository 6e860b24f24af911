"""`cashless replay FILE`: send a utility or market export (JSON Lines or CSV) to Kafka.

The file is streamed from disk in binary, line by line, so memory stays flat whatever its size.
Each line (a CSV record may span lines inside quotes) is parsed, anonymised at the edge
(`cashless.anonymise`), then validated with `EventDecoder.decode_parsed`: a record with a
`holder` field is an account event, any other a payment event; a JSON Lines line may also hold
an array of events. Accepted events are batched per record key, up to `events_per_record` events
in one Kafka record, and every buffer is sent at least once per chunk of lines. Each rejected
event or unparseable line becomes one `payments.dlq` record naming the file and line, with the
scrubbed event when there is one and only the length and a keyed hash of the raw bytes.

CSV specifics: the header row names the fields (`--column-map old=new,...` renames utility
export columns); empty cells are absent fields (so a mixed file's payment rows, whose `holder`
cell is empty, stay payment events); `schema` and `amount_vnd` cells made of digits become
integers. A record whose cell count differs from the header's is rejected as `bad_csv`.

Rejected lines do not make the command fail: they are counted and reported. Only a failure to
deliver to Kafka does (exit status 1).

The package: `readers` (the line readers, format detection, the column map) and `replayer`
(the `Replayer`, its sinks and summary).
"""
