#!/usr/bin/env node
// seaport_bench.js: the same measurements as registry_bench, against the
// original JavaScript seaport (npm seaport@2.0.9). Prints one JSON line.
//
//   node seaport_bench.js server   --port P                      (the hub; runs until killed)
//   node seaport_bench.js register --hub H:P --concurrency N --seconds S [--warmup W]
//   node seaport_bench.js fanout   --hub H:P --watchers W --changes C
//   node seaport_bench.js fill     --hub H:P --count K --concurrency N [--server-pid PID]
//
// seaport is found in $SEAPORT_DIR/node_modules (default ~/.cache/skyport-bench-node).
//
// How seaport works, and what that means here (read node_modules/seaport/lib):
// - The wire protocol is newline-delimited JSON arrays over TCP:
//   ["register", id, meta], ["free", id], ["heartbeat"], ["synced"], ["helo", addr].
// - register() picks the port on the CLIENT (10000 + random, no uniqueness check)
//   and sends one line; the hub never answers the sender. It stores the entry in
//   memory and forwards the line to every other connected client. Nothing is
//   written to disk; entries vanish when their connection drops.
// - Every client is a full replica: each registration is sent to all N-1 others.
// So "registered" is confirmed here by an observer connection seeing the hub's
// broadcast of that id: hub applied it and sent it on (the closest thing to
// skyport's reply after commit). Load clients speak the wire protocol directly
// and discard what they receive (a seaport.connect() client per load connection
// would keep a replica of every registration in this process and measure the
// load generator, not the hub). Fan-out watchers are real seaport.connect()
// clients listening for 'register' events.
'use strict';
const net = require('net');
const fs = require('fs');
const path = require('path');
const os = require('os');

const SEAPORT_DIR = process.env.SEAPORT_DIR || path.join(os.homedir(), '.cache', 'skyport-bench-node');
const seaport = require(path.join(SEAPORT_DIR, 'node_modules', 'seaport'));

function parseArgs(argv) {
  const o = { mode: argv[0] };
  for (let i = 1; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m) throw new Error('unexpected argument ' + argv[i]);
    o[m[1]] = argv[++i];
  }
  return o;
}

function hubAddr(o) {
  const [host, port] = String(o.hub || '').split(':');
  if (!host || !port) throw new Error('--hub HOST:PORT is required');
  return { host, port: Number(port) };
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randId = () => Math.random().toString(16).slice(2) + Math.random().toString(16).slice(2);

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.round((p / 100) * (sorted.length - 1))];
}
function latency(v) {
  if (!v.length) return { n: 0 };
  const s = Float64Array.from(v).sort();
  return { n: s.length, p50_ms: percentile(s, 50), p99_ms: percentile(s, 99), max_ms: s[s.length - 1] };
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : -1;
}

// A raw protocol connection: sends rows, hands received rows to onRow (or
// drops the bytes unparsed when onRow is null). Sends heartbeats like a
// seaport client so the hub never times it out.
function rawConn(hub, onRow) {
  return new Promise((resolve, reject) => {
    const c = net.connect(hub.port, hub.host);
    let buf = '';
    c.setNoDelay(true);
    c.on('data', (d) => {
      if (!onRow) return;
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line) onRow(JSON.parse(line));
      }
    });
    c.on('error', reject);
    c.on('connect', () => {
      const hb = setInterval(() => c.write('["heartbeat"]\n'), 5000);
      c.on('close', () => clearInterval(hb));
      resolve({ send: (row) => c.write(JSON.stringify(row) + '\n'), end: () => c.destroy() });
    });
  });
}

// Confirms registrations: resolves wait(id) when the hub's broadcast of id arrives.
async function observer(hub) {
  const pending = new Map();
  let seen = 0;
  const conn = await rawConn(hub, (row) => {
    if (row[0] !== 'register') return;
    seen++;
    const cb = pending.get(row[1]);
    if (cb) { pending.delete(row[1]); cb(); }
  });
  return {
    conn,
    wait: (id) => new Promise((r) => pending.set(id, r)),
    seen: () => seen,
  };
}

function meta(host, port, i) {
  // what seaport's registerMeta('bench@1.0.0', {host, port}) puts on the wire
  return { role: 'bench', version: '1.0.0', host, port, instance: i };
}

async function runRegister(o) {
  const hub = hubAddr(o);
  const n = Number(o.concurrency || 8), secs = Number(o.seconds || 5), warm = Number(o.warmup || 1);
  const obs = await observer(hub);
  const clients = await Promise.all(Array.from({ length: n }, () => rawConn(hub, null)));
  const start = nowMs(), from = start + warm * 1000, to = from + secs * 1000;
  let counted = 0;
  const lat = [];
  let stop = false;
  await Promise.all(clients.map(async (c, t) => {
    for (let k = 0; !stop; k++) {
      const id = randId();
      const t0 = nowMs();
      const done = obs.wait(id);
      // the port as seaport's client picks it: 10000 + random, not checked
      const m = meta(`t${t}.bench`, 10000 + Math.floor(Math.random() * 55000), k);
      m.id = id;
      c.send(['register', id, m]);
      await done;
      const t1 = nowMs();
      if (t1 >= to) { stop = true; break; }
      if (t1 >= from) { counted++; lat.push(t1 - t0); }
    }
  }));
  clients.forEach((c) => c.end());
  obs.conn.end();
  return {
    mode: 'register', system: 'seaport', variant: 'register (client-picked port)', concurrency: n,
    seconds: secs, registrations: counted, per_sec: counted / secs, latency: latency(lat),
    errors: { total: 0 },
  };
}

function connectSeaport(hub) {
  return new Promise((resolve) => {
    const s = seaport.connect(hub.port, hub.host);
    s.once('synced', () => resolve(s));
  });
}

async function runFanout(o) {
  const hub = hubAddr(o);
  const w = Number(o.watchers || 100), changes = Number(o.changes || 200);
  const timeoutMs = Number(o['change-timeout'] || 5) * 1000;
  const host = `r${randId().slice(0, 8)}.fan`;
  const sent = new Float64Array(changes);
  const received = new Int32Array(changes);
  const lastAt = new Float64Array(changes);
  const samples = [];
  let wake = null;
  const watchers = await Promise.all(Array.from({ length: w }, () => connectSeaport(hub)));
  for (const s of watchers) {
    s.on('register', (m) => {
      const t = nowMs();
      if (!m || m.host !== host) return;
      const k = m.instance;
      samples.push(t - sent[k]);
      if (t > lastAt[k]) lastAt[k] = t;
      if (++received[k] === w && wake) wake();
    });
  }
  const writer = await connectSeaport(hub);
  const allNotified = [];
  let missing = 0;
  for (let k = 0; k < changes; k++) {
    const all = new Promise((r) => {
      const timer = setTimeout(r, timeoutMs);
      wake = () => { clearTimeout(timer); r(); };
    });
    sent[k] = nowMs();
    writer.register({ role: 'fan@1.0.0', host, port: 10000 + k, instance: k });
    await all;
    wake = null;
    if (received[k] === w) allNotified.push(lastAt[k] - sent[k]);
    else missing += w - received[k];
  }
  watchers.forEach((s) => s.close());
  writer.close();
  return {
    mode: 'fanout', system: 'seaport', watchers: w, changes, notify: latency(samples),
    all_notified: latency(allNotified), write_rpc: null, missing, stream_drops: 0, errors: { total: 0 },
  };
}

async function runFill(o) {
  const hub = hubAddr(o);
  const count = Number(o.count || 100000), n = Number(o.concurrency || 8);
  const obs = await observer(hub);
  const clients = await Promise.all(Array.from({ length: n }, () => rawConn(hub, null)));
  const t0 = nowMs();
  let next = 0, done = 0;
  await Promise.all(clients.map(async (c, t) => {
    // a window of 1 per client, like the skyport fill: send, wait for the hub, next
    for (let k = 0; next < count; k++) {
      next++;
      const id = randId();
      const m = meta(`t${t}.fill`, 10000 + Math.floor(Math.random() * 55000), k);
      m.id = id;
      const ok = obs.wait(id);
      c.send(['register', id, m]);
      await ok;
      done++;
    }
  }));
  const secs = (nowMs() - t0) / 1000;
  const out = {
    mode: 'fill', system: 'seaport', variant: 'register (client-picked port)', concurrency: n, count,
    registered: done, seconds: secs, per_sec: done / secs, errors: { total: 0 },
  };
  if (o['server-pid']) {
    // The entries live only while their connections do: measure before closing.
    await sleep(1000);
    out.rss_after_kb = rssKb(Number(o['server-pid']));
  }
  clients.forEach((c) => c.end());
  obs.conn.end();
  return out;
}

function runServer(o) {
  const server = seaport.createServer();
  server.listen(Number(o.port), o.host || '127.0.0.1');
  server.on('listening', () => process.stderr.write(`seaport listening on ${JSON.stringify(server.address())}\n`));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.mode === 'server') return runServer(o);
  const run = { register: runRegister, fanout: runFanout, fill: runFill }[o.mode];
  if (!run) throw new Error('mode must be server|register|fanout|fill');
  const out = await run(o);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ mode: process.argv[2], system: 'seaport', error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
});
