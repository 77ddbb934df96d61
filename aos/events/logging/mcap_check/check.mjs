// Reads an MCAP file with Foxglove's official TypeScript library (@mcap/core)
// and compares it with what the writer was given, so AOS's MCAP export is
// judged by an independent reader rather than by our own parser.
//
//   node check.mjs <file.mcap> <expected.json>
//
// expected.json (written by the C++ test):
//   { "compression": "zstd" | "",
//     "json": false,              // true: messages are JSON, schemas jsonschema
//     "channels": [ { "topic", "message_encoding", "metadata": {k: v},
//                     "schema_name", "schema_encoding", "schema_data" (hex) } ],
//     "messages": [ { "topic", "sequence", "log_time", "publish_time" (decimal
//                     strings), "data" (hex) } ]   // in the order written
//   }
//
// The file is read twice: by the streaming reader (every record in file order,
// chunk CRCs checked) and by the indexed reader (summary, statistics, chunk
// indexes, message indexes, summary CRC checked). The data section's CRC in
// Data End is checked here, as the library does not. Exits 0 and prints one
// line of counts when everything matches; otherwise prints the first
// difference and exits 1.

import { readFileSync } from "node:fs";
import { McapIndexedReader, McapStreamReader } from "@mcap/core";
import { crc32 } from "@foxglove/crc";
import { decompress } from "fzstd";

const [mcapPath, expectedPath] = process.argv.slice(2);
if (!mcapPath || !expectedPath) {
  console.error("usage: node check.mjs <file.mcap> <expected.json>");
  process.exit(2);
}

function fail(message) {
  console.error(`mcap_check: ${mcapPath}: ${message}`);
  process.exit(1);
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const decompressHandlers = {
  zstd: (buffer, decompressedSize) => {
    const out = decompress(buffer, new Uint8Array(Number(decompressedSize)));
    if (BigInt(out.length) !== decompressedSize) {
      fail(`zstd chunk decompressed to ${out.length} bytes, expected ${decompressedSize}`);
    }
    return out;
  },
};

const file = new Uint8Array(readFileSync(mcapPath));
const expected = JSON.parse(readFileSync(expectedPath, "utf8"));
const expectedByTopic = new Map(expected.channels.map((c) => [c.topic, c]));

function compareChannel(channel, schema, where) {
  const want = expectedByTopic.get(channel.topic);
  if (!want) fail(`${where}: unexpected channel '${channel.topic}'`);
  if (channel.messageEncoding !== want.message_encoding) {
    fail(`${where}: channel ${channel.topic} has message encoding '${channel.messageEncoding}', expected '${want.message_encoding}'`);
  }
  const metadata = Object.fromEntries(channel.metadata);
  if (JSON.stringify(metadata) !== JSON.stringify(want.metadata ?? {})) {
    fail(`${where}: channel ${channel.topic} metadata ${JSON.stringify(metadata)}, expected ${JSON.stringify(want.metadata)}`);
  }
  if (!schema) fail(`${where}: channel ${channel.topic} has no schema (id ${channel.schemaId})`);
  if (schema.name !== want.schema_name || schema.encoding !== want.schema_encoding) {
    fail(`${where}: channel ${channel.topic} schema '${schema.name}' (${schema.encoding}), expected '${want.schema_name}' (${want.schema_encoding})`);
  }
  if (hex(schema.data) !== want.schema_data) {
    fail(`${where}: schema '${schema.name}' of ${channel.topic}: ${schema.data.length} bytes differ from the ${want.schema_data.length / 2} expected`);
  }
}

function describe(m) {
  return `${m.topic} #${m.sequence} log_time ${m.log_time} publish_time ${m.publish_time} (${m.data.length / 2} bytes)`;
}

function compareMessages(got, want, where) {
  if (got.length !== want.length) {
    fail(`${where}: ${got.length} messages, expected ${want.length}`);
  }
  for (let i = 0; i < want.length; ++i) {
    const g = got[i], w = want[i];
    if (g.topic !== w.topic || g.sequence !== w.sequence || g.log_time !== w.log_time ||
        g.publish_time !== w.publish_time || g.data !== w.data) {
      fail(`${where}: message ${i} is ${describe(g)}, expected ${describe(w)}`);
    }
  }
}

// A JSON Schema validator for the subset the writer emits (type, properties,
// items, enum, local $ref into $defs), so a viewer relying on the schema is
// not misled.
function validate(value, schema, path, root = schema) {
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    const target = root.$defs?.[name];
    if (!target) return `${path}: schema $ref ${schema.$ref} does not resolve`;
    return validate(value, target, path, root);
  }
  const types = [schema.type ?? []].flat();
  const typeOf = (v) => Array.isArray(v) ? "array" : v === null ? "null" :
      typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v;
  const t = typeOf(value);
  if (types.length && !types.includes(t) && !(t === "integer" && types.includes("number"))) {
    return `${path} is ${t}, schema says ${types.join("|")}`;
  }
  if (schema.enum && !schema.enum.includes(value)) return `${path} = ${value} is not in the schema's enum`;
  if (t === "object" && schema.properties) {
    for (const [key, v] of Object.entries(value)) {
      const sub = schema.properties[key];
      if (!sub) return `${path}.${key} is not in the schema`;
      const error = validate(v, sub, `${path}.${key}`, root);
      if (error) return error;
    }
  }
  if (t === "array" && schema.items) {
    for (let i = 0; i < value.length; ++i) {
      const error = validate(value[i], schema.items, `${path}[${i}]`, root);
      if (error) return error;
    }
  }
  return undefined;
}

// 1. Streaming: every record, in file order.
const streamReader = new McapStreamReader({ decompressHandlers, validateCrcs: true });
streamReader.append(file);
const counts = {};
const streamChannels = new Map();
const streamSchemas = new Map();
const streamMessages = [];
let header;
for (let record; (record = streamReader.nextRecord()); ) {
  counts[record.type] = (counts[record.type] ?? 0) + 1;
  switch (record.type) {
    case "Header": header = record; break;
    case "Schema": streamSchemas.set(record.id, record); break;
    case "Channel":
      if (record.schemaId !== 0 && !streamSchemas.has(record.schemaId)) {
        fail(`stream: channel ${record.topic} precedes its schema ${record.schemaId}`);
      }
      streamChannels.set(record.id, record);
      break;
    case "Message": {
      const channel = streamChannels.get(record.channelId);
      if (!channel) fail(`stream: a message precedes its channel ${record.channelId}`);
      streamMessages.push({ topic: channel.topic, sequence: record.sequence,
        log_time: record.logTime.toString(), publish_time: record.publishTime.toString(),
        data: hex(record.data) });
      break;
    }
  }
}
if (!streamReader.done()) fail("stream: the file ends before its footer and trailing magic");
if (!header) fail("stream: no header");
for (const channel of streamChannels.values()) {
  compareChannel(channel, streamSchemas.get(channel.schemaId), "stream");
}
if (streamChannels.size !== expected.channels.length) {
  fail(`stream: ${streamChannels.size} channels, expected ${expected.channels.length}`);
}
compareMessages(streamMessages, expected.messages, "stream");
// Chunk records are consumed inside the stream reader; Message Index records
// after them show the chunks exist and are indexed.
if (expected.messages.length > 0 && !counts.MessageIndex) fail("stream: no message index records");
if (!counts.DataEnd) fail("stream: no Data End record");

// 2. Indexed: summary, statistics, chunk and message indexes.
const readable = {
  size: async () => BigInt(file.length),
  read: async (offset, size) => file.subarray(Number(offset), Number(offset + size)),
};
let reader;
try {
  reader = await McapIndexedReader.Initialize({ readable, decompressHandlers });
} catch (error) {
  fail(`indexed: ${error.message}`);
}
if (reader.dataSectionCrc !== undefined) {
  // Data End sits at dataEndOffset; its CRC covers every byte before it.
  const crc = crc32(file.subarray(0, Number(reader.dataEndOffset)));
  if (crc !== reader.dataSectionCrc) fail(`data section CRC ${reader.dataSectionCrc}, computed ${crc}`);
} else {
  fail("indexed: Data End carries no data section CRC");
}
if (reader.channelsById.size !== expected.channels.length) {
  fail(`summary: ${reader.channelsById.size} channels, expected ${expected.channels.length}`);
}
for (const channel of reader.channelsById.values()) {
  compareChannel(channel, reader.schemasById.get(channel.schemaId), "summary");
}
const stats = reader.statistics;
if (!stats) fail("summary: no statistics record");
if (stats.messageCount !== BigInt(expected.messages.length)) {
  fail(`statistics: ${stats.messageCount} messages, expected ${expected.messages.length}`);
}
if (stats.channelCount !== expected.channels.length) fail(`statistics: ${stats.channelCount} channels`);
if (stats.chunkCount !== reader.chunkIndexes.length) {
  fail(`statistics: ${stats.chunkCount} chunks, but ${reader.chunkIndexes.length} chunk indexes`);
}
const perTopic = new Map(expected.channels.map((c) => [c.topic, 0n]));
for (const m of expected.messages) perTopic.set(m.topic, perTopic.get(m.topic) + 1n);
for (const [id, count] of stats.channelMessageCounts) {
  const topic = reader.channelsById.get(id).topic;
  if (count !== perTopic.get(topic)) fail(`statistics: ${topic} has ${count} messages, expected ${perTopic.get(topic)}`);
}
for (const index of reader.chunkIndexes) {
  if (index.compression !== expected.compression) {
    fail(`chunk at ${index.chunkStartOffset} compressed with '${index.compression}', expected '${expected.compression}'`);
  }
  if (index.messageIndexOffsets.size === 0 && index.messageStartTime !== 0n) {
    fail(`chunk at ${index.chunkStartOffset} has messages but no message indexes`);
  }
}
const order = (a, b) => (BigInt(a.log_time) < BigInt(b.log_time) ? -1 : BigInt(a.log_time) > BigInt(b.log_time) ? 1 :
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.sequence - b.sequence);
const indexed = [];
for await (const record of reader.readMessages({ validateCrcs: true })) {
  indexed.push({ topic: reader.channelsById.get(record.channelId).topic, sequence: record.sequence,
    log_time: record.logTime.toString(), publish_time: record.publishTime.toString(),
    data: hex(record.data) });
}
compareMessages(indexed.sort(order), [...expected.messages].sort(order), "indexed");
// Per topic, through the message indexes.
for (const channel of expected.channels) {
  let n = 0n;
  for await (const _ of reader.readMessages({ topics: [channel.topic] })) ++n;
  if (n !== perTopic.get(channel.topic)) fail(`indexed: topic ${channel.topic} reads ${n} messages, expected ${perTopic.get(channel.topic)}`);
}

// 3. JSON mode: every message parses and fits its channel's JSON schema.
if (expected.json) {
  const schemas = new Map();
  for (const channel of reader.channelsById.values()) {
    const schema = reader.schemasById.get(channel.schemaId);
    try {
      schemas.set(channel.topic, JSON.parse(Buffer.from(schema.data).toString("utf8")));
    } catch (error) {
      fail(`schema '${schema.name}' of ${channel.topic} is not JSON: ${error.message}`);
    }
  }
  for (let i = 0; i < indexed.length; ++i) {
    let value;
    const text = Buffer.from(indexed[i].data, "hex").toString("utf8");
    try {
      value = JSON.parse(text);
    } catch (error) {
      fail(`message ${describe(indexed[i])} is not JSON (${error.message}): ${text.slice(0, 200)}`);
    }
    const error = validate(value, schemas.get(indexed[i].topic), "$");
    if (error) fail(`message ${describe(indexed[i])} does not fit its schema: ${error}`);
  }
}

console.log(`mcap_check: ${mcapPath}: OK: ${expected.messages.length} messages, ` +
  `${expected.channels.length} channels, ${reader.chunkIndexes.length} chunks, ` +
  `${counts.MessageIndex ?? 0} message indexes, library '${header.library}'`);
