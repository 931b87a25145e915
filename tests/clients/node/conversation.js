// A Node `ws` client that holds one conversation: it connects, sends each MESSAGE argument in
// order (the next one once the previous one has been answered by anything), and prints one JSON
// line per message it receives ({"message": TEXT}) and one for the close it sees
// ({"close": CODE, "reason": TEXT}), then exits. It gives up after 10 s ({"timeout": true}).
//
// Usage: node conversation.js WS_URL MESSAGE...
"use strict";

const WebSocket = require("ws");

const [url, ...messages] = process.argv.slice(2);
if (!url) throw new Error("usage: node conversation.js WS_URL MESSAGE...");

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const socket = new WebSocket(url);
let next = 0;
function sendNext() {
  if (next < messages.length) socket.send(messages[next++]);
}
const giveUp = setTimeout(() => {
  print({ timeout: true });
  process.exit(1);
}, 10000);

socket.on("open", sendNext);
socket.on("message", (data, isBinary) => {
  print({ message: isBinary ? `<binary ${data.length}>` : data.toString("utf8") });
  sendNext();
});
socket.on("close", (code, reason) => {
  clearTimeout(giveUp);
  print({ close: code, reason: reason.toString("utf8") });
});
socket.on("error", (error) => print({ error: String(error.message) }));
