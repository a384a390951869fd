#!/usr/bin/env node
// A browser stand-in for `npm run bench`: attaches to the lab's /ws like the UI does and reads everything it is
// sent, so the target pays for tracing and streaming. Prints what it received when it gets SIGTERM.
// usage: node scripts/bench-ws-client.mjs ws://127.0.0.1:8080/ws
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) {
  console.error('usage: bench-ws-client.mjs WS_URL');
  process.exit(2);
}
let text = 0,
  binary = 0,
  bytes = 0,
  dropped = 0;
const ws = new WebSocket(url);
ws.on('message', (data, isBinary) => {
  const n = Array.isArray(data) ? data.reduce((s, b) => s + b.length, 0) : data.byteLength;
  bytes += n;
  if (isBinary) binary++;
  else {
    text++;
    const m = /"dropped":(\d+)/.exec(data.toString());
    if (m) dropped = Math.max(dropped, Number(m[1]));
  }
});
ws.on('open', () => console.log('attached'));
ws.on('error', (err) => {
  console.error(`bench-ws-client: ${err.message}`);
  process.exit(1);
});
process.on('SIGTERM', () => {
  console.log(`ws frames: text ${text}, binary ${binary}, ${(bytes / 1048576).toFixed(1)} MiB, dropped-reported ${dropped}`);
  process.exit(0);
});
