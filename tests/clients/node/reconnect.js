// A Node `ws` client with a reconnect helper: exponential backoff with full jitter
// (wait = random(0, min(cap, base * 2^n)), the AWS architecture blog's "full jitter").
//
// Usage: node reconnect.js WS_URL [--base-ms 500] [--cap-ms 30000] [--retries 10] [--seed 7]
//                                 [--scale 1]
// It connects, sends "hello", and closes (1000) once the echo comes back. A failed handshake or
// a connection closed before the echo is retried after the next wait, times --scale (the
// calibration suite's time scale); after --retries retries it gives up. The random draws are
// seeded (--seed), so a run's waits are the same every time. Prints one JSON line at the end:
// {"attempts": N, "connections": N, "recovered": true|false}.
"use strict";

const WebSocket = require("ws");

function parseArguments(argv) {
  const options = { baseMs: 500, capMs: 30000, retries: 10, seed: 7, scale: 1 };
  const names = {
    "--base-ms": "baseMs",
    "--cap-ms": "capMs",
    "--retries": "retries",
    "--seed": "seed",
    "--scale": "scale",
  };
  const [url, ...rest] = argv;
  if (!url) throw new Error("usage: node reconnect.js WS_URL [--base-ms N] ...");
  for (let index = 0; index < rest.length; index += 2) {
    const name = names[rest[index]];
    const value = Number(rest[index + 1]);
    if (!name || !Number.isFinite(value)) {
      throw new Error(`bad option ${rest[index]} ${rest[index + 1]}`);
    }
    options[name] = value;
  }
  return { url, ...options };
}

// mulberry32: a small seeded generator, so the waits are reproducible.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

function fullJitterWait(options, random, retry) {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** retry);
  return random() * ceiling * options.scale;
}

function run(options) {
  const random = seededRandom(options.seed);
  const state = { attempts: 0, connections: 0, retries: 0 };

  function finish(recovered) {
    const { attempts, connections } = state;
    process.stdout.write(`${JSON.stringify({ attempts, connections, recovered })}\n`);
    process.exitCode = recovered ? 0 : 1;
  }

  function attempt() {
    state.attempts += 1;
    let echoed = false;
    const socket = new WebSocket(options.url, { handshakeTimeout: 5000 });
    socket.on("error", () => {}); // a "close" always follows; that is where we decide
    socket.on("open", () => {
      state.connections += 1;
      socket.send("hello");
    });
    socket.on("message", () => {
      echoed = true;
      socket.close(1000);
    });
    socket.on("close", () => {
      if (echoed) return finish(true);
      if (state.retries >= options.retries) return finish(false);
      const wait = fullJitterWait(options, random, state.retries);
      state.retries += 1;
      setTimeout(attempt, wait);
    });
  }

  attempt();
}

run(parseArguments(process.argv.slice(2)));
