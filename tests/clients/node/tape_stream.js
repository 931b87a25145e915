// A Node `ws` client that streams like tests/tapes/streaming.py's `stream_session`: on open it
// sends {"type":"Auth","access_token":TOKEN}, then 8 binary chunks of 1 KB, each 30 ms after the
// previous send, then {"type":"CloseStream"}, and reads to the end.
//
// It prints one JSON line per message it receives, {"at": MS, "message": TEXT} (MS: milliseconds
// since the open, from performance.now(); binary messages as "<binary N>"), and one for the
// close it sees, {"close": CODE, "reason": TEXT}; then nothing is left to run and it exits.
// Errors print {"error": TEXT}. It gives up after 15 s whatever happens ({"timeout": true},
// exit status 1).
//
// Usage: node tape_stream.js WS_URL TOKEN ["Authorization: Bearer X"]
"use strict";

const { performance } = require("node:perf_hooks");
const WebSocket = require("ws");

const CHUNKS = 8;
const CHUNK_GAP_MS = 30;
const GIVE_UP_MS = 15000;

const [url, token, header] = process.argv.slice(2);
if (!url || token === undefined) {
  throw new Error('usage: node tape_stream.js WS_URL TOKEN ["Authorization: Bearer X"]');
}

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const giveUp = setTimeout(() => {
  print({ timeout: true });
  process.exit(1);
}, GIVE_UP_MS);

// 1 KB of "audio": bytes 0..255, four times (streaming.py's CHUNK).
const chunk = Buffer.alloc(1024);
for (let i = 0; i < chunk.length; i++) chunk[i] = i % 256;

const headers = {};
if (header !== undefined) {
  const colon = header.indexOf(":");
  if (colon <= 0) throw new Error(`expected "Name: value", got ${JSON.stringify(header)}`);
  headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
}

const socket = new WebSocket(url, { headers, handshakeTimeout: 5000 });
let opened = 0;
let pending = null;

function sendChunk(sent) {
  pending = null;
  if (socket.readyState !== WebSocket.OPEN) return;
  socket.send(chunk, { binary: true });
  if (sent + 1 < CHUNKS) {
    pending = setTimeout(sendChunk, CHUNK_GAP_MS, sent + 1);
  } else {
    socket.send(JSON.stringify({ type: "CloseStream" }));
  }
}

socket.on("open", () => {
  opened = performance.now();
  socket.send(JSON.stringify({ type: "Auth", access_token: token }));
  pending = setTimeout(sendChunk, CHUNK_GAP_MS, 0);
});
socket.on("message", (data, isBinary) => {
  const at = performance.now() - opened;
  print({ at, message: isBinary ? `<binary ${data.length}>` : data.toString("utf8") });
});
socket.on("close", (code, reason) => {
  if (pending !== null) clearTimeout(pending);
  clearTimeout(giveUp);
  print({ close: code, reason: reason.toString("utf8") });
});
socket.on("error", (error) => print({ error: String(error.message) }));
