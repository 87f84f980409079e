#!/usr/bin/env node
// propagit_client.js: the deploy step of seed 003's flow against propagit 0.6.4.
//
//   node -r propagit_weak_shim.js propagit_client.js deploy --hub H:P --secret S \
//        --repo R --commit C --seaport H:P -- CMD ARGS...
//   node -r propagit_weak_shim.js propagit_client.js stop --hub H:P --secret S --ids JSON
//
// deploy = Hub.deploy (every drone: git fetch from the hub, git clone, git
// checkout) then Hub.spawn of CMD on every drone ('*'), with SEAPORT=H:P in the
// app's environment so the app registers itself there (as the seed's web.js
// does with seaport). `propagit deploy` + `propagit spawn` on the command line
// do the same two calls, but the CLI's spawn picks ONE random drone and cannot
// be told otherwise, hence this client. Prints one JSON line per step with
// unix_ms; the last one ("spawned") carries {drone: process id}.
'use strict';
const path = require('path');
const os = require('os');

const dir = process.env.SEAPORT_DIR || path.join(os.homedir(), '.cache', 'skyport-bench-node');
const propagit = require(path.join(dir, 'node_modules', 'propagit'));

const argv = process.argv.slice(2);
const mode = argv.shift();
const dash = argv.indexOf('--');
const command = dash >= 0 ? argv.splice(dash).slice(1) : [];
const o = {};
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];

const say = (stage, extra) => process.stdout.write(JSON.stringify({ stage, unix_ms: Date.now(), ...extra }) + '\n');
const fail = (what, err) => {
  say('failed', { message: what + ': ' + (Array.isArray(err) ? err.join('\n') : String(err)) });
  process.exit(1);
};

const p = propagit({ hub: o.hub, secret: o.secret });
p.on('error', (e) => fail('hub', e));
p.hub((remote) => {
  say('connected');
  if (mode === 'deploy') {
    remote.deploy({ repo: o.repo, commit: o.commit, drone: '*' }, (err) => {
      if (err) fail('deploy', err);
      say('checked-out');
      remote.spawn({ repo: o.repo, commit: o.commit, command, drone: '*', env: { SEAPORT: o.seaport } }, (err2, procs) => {
        if (err2) fail('spawn', err2);
        say('spawned', { procs });
        p.hub.close();
        process.exit(0);
      });
    });
  } else if (mode === 'stop') {
    const ids = JSON.parse(o.ids);  // {drone: process id}
    const drones = Object.keys(ids);
    let pending = drones.length;
    if (!pending) process.exit(0);
    for (const d of drones) {
      remote.stop({ drone: d, pid: ids[d] }, () => {
        if (--pending === 0) { say('stopped'); p.hub.close(); process.exit(0); }
      });
    }
  } else {
    fail('usage', 'mode must be deploy or stop');
  }
});
setTimeout(() => fail('timeout', 'no answer from the hub in 60 s'), 60000).unref();
