// propagit_weak_shim.js: loaded with `node -r` in front of propagit 0.6.4.
//
// propagit -> upnode 0.3 -> dnode 1.0.x, which does `require('weak')` at load
// time. weak@0.2.2 is a native addon written against the V8 API of Node 0.8
// and does not compile on Node 20 (npm install fails in node-gyp), so the
// runner installs propagit with --ignore-scripts and this shim answers
// require('weak') instead. dnode only uses weak to let the GC cull remote
// callbacks it wraps; holding them strongly changes memory, not behaviour.
'use strict';
const Module = require('module');

const id = __filename + '#weak';
const weak = function weak(obj) { return obj; };
weak.get = (ref) => ref;
require.cache[id] = { id, filename: id, loaded: true, exports: weak };

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'weak' ? id : resolve.call(this, request, ...rest);
};

// The benchmark binds 127.0.0.1 only; propagit's hub listens on a bare port
// (all interfaces). With BENCH_LOOPBACK=1 a bare-port listen() gets 127.0.0.1.
if (process.env.BENCH_LOOPBACK === '1') {
  const net = require('net');
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if ((typeof args[0] === 'number' || /^\d+$/.test(String(args[0]))) &&
        (args.length === 1 || typeof args[1] === 'function')) {
      args.splice(1, 0, '127.0.0.1');
    }
    return listen.apply(this, args);
  };
}
