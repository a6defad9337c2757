#!/usr/bin/env node
// Test-only CLI around tuyapi 7.7.1 (an independent Node client used as an
// interoperability oracle by tests/interop). It is NOT part of powermonitor.
//
//   node tuyapi_client.js --id ID --key KEY --host 127.0.0.1 --port P \
//        --version 3.4 --ops '["get","set:1:false","get"]' [--no-wait] [--timeout 15]
//
// Ops (a JSON array, run in order on ONE connection):
//   "get"                 get({schema: true}) -> whole status reply
//   "set:DP:JSON"         set({dps: DP, set: JSON.parse(JSON)}) with the default
//                         wait mode (--wait / --no-wait, default: wait)
//   "setw:DP:JSON"        same, always shouldWaitForResponse: true
//   "setnw:DP:JSON"       same, always shouldWaitForResponse: false
//   {"op": "get"}
//   {"op": "set", "dps": "1", "value": false, "wait": false}
//   {"op": "set", "data": {"1": false, "2": 3}, "wait": true}   (multiple: true)
//
// Output: exactly ONE JSON line on stdout, then exit.
//   {"ok": true, "results": [{"op": "get", "dps": {...}|null, "raw": ...}, ...],
//    "events": [{"cmd": 8, "seq": 3, "payload": ...}, ...], "errors": [...]}
//   {"ok": false, "error": "...", "results": [...partial...], "events": [...], "errors": [...]}
// "events" are all 'data'/'dp-refresh' frames tuyapi emitted (in arrival order),
// "errors" all 'error' events (tuyapi emits some non-fatal ones, e.g. set timeouts).
// Exit code 0 on ok, 1 on an op failure, 2 on bad usage / missing tuyapi,
// 3 on the hard overall timeout (--timeout seconds, default 15).
// Talks only to the --host given; never calls find() (no UDP at all).
'use strict';

const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_USAGE = 2;
const EXIT_TIMEOUT = 3;

let finished = false;
const state = {results: [], events: [], errors: [], current: null};
let device = null;

function emitAndExit(obj, code) {
  if (finished) {
    return;
  }

  finished = true;
  try {
    if (device) {
      device.disconnect();
    }
  } catch (_) { }

  const line = JSON.stringify(obj) + '\n';
  process.stdout.write(line, () => process.exit(code));
  // In case the write callback never fires (closed pipe), still exit.
  setTimeout(() => process.exit(code), 1000).unref();
}

function fail(message, code) {
  emitAndExit({
    ok: false,
    error: message,
    results: state.results,
    events: state.events,
    errors: state.errors
  }, code);
}

function parseArgs(argv) {
  const args = {
    id: null, key: null, host: '127.0.0.1', port: 6668, version: '3.3',
    ops: '["get"]', wait: true, timeout: 15
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) {
        throw new Error('missing value for ' + a);
      }

      return argv[++i];
    };

    switch (a) {
      case '--id': args.id = next(); break;
      case '--key': args.key = next(); break;
      case '--host': case '--ip': args.host = next(); break;
      case '--port': args.port = Number.parseInt(next(), 10); break;
      case '--version': args.version = next(); break;
      case '--ops': args.ops = next(); break;
      case '--wait': args.wait = true; break;
      case '--no-wait': args.wait = false; break;
      case '--timeout': args.timeout = Number.parseFloat(next()); break;
      default: throw new Error('unknown argument ' + a);
    }
  }

  if (!args.id || !args.key) {
    throw new Error('--id and --key are required');
  }

  if (!Number.isInteger(args.port) || args.port <= 0 || args.port > 65535) {
    throw new Error('bad --port');
  }

  if (!(args.timeout > 0)) {
    throw new Error('bad --timeout');
  }

  return args;
}

function normalizeOp(op, defaultWait) {
  if (typeof op === 'string') {
    if (op === 'get') {
      return {op: 'get'};
    }

    const m = /^(set|setw|setnw):([^:]+):(.*)$/s.exec(op);
    if (!m) {
      throw new Error('bad op ' + JSON.stringify(op));
    }

    const wait = m[1] === 'set' ? defaultWait : m[1] === 'setw';
    return {op: 'set', dps: m[2], value: JSON.parse(m[3]), wait};
  }

  if (op && typeof op === 'object') {
    if (op.op === 'get') {
      return {op: 'get'};
    }

    if (op.op === 'set') {
      const wait = typeof op.wait === 'boolean' ? op.wait : defaultWait;
      if (op.data && typeof op.data === 'object') {
        return {op: 'set', data: op.data, wait};
      }

      if (op.dps === undefined || !('value' in op)) {
        throw new Error('set op needs dps+value or data: ' + JSON.stringify(op));
      }

      return {op: 'set', dps: String(op.dps), value: op.value, wait};
    }
  }

  throw new Error('bad op ' + JSON.stringify(op));
}

function extractDps(raw) {
  if (!raw || typeof raw !== 'object') {
    return null;
  }

  if (raw.dps && typeof raw.dps === 'object') {
    return raw.dps;
  }

  if (raw.data && typeof raw.data === 'object' && raw.data.dps && typeof raw.data.dps === 'object') {
    return raw.data.dps;
  }

  return null;
}

function jsonable(value) {
  if (Buffer.isBuffer(value)) {
    return {buffer_hex: value.toString('hex')};
  }

  return value === undefined ? null : value;
}

async function runOp(op) {
  if (op.op === 'get') {
    const raw = await device.get({schema: true});
    return {op: 'get', dps: extractDps(raw), raw: jsonable(raw)};
  }

  const options = op.data ?
    {multiple: true, data: op.data, shouldWaitForResponse: op.wait} :
    {dps: op.dps, set: op.value, shouldWaitForResponse: op.wait};
  const raw = await device.set(options);
  const result = {op: 'set', wait: op.wait, dps: extractDps(raw), raw: jsonable(raw)};
  if (op.data) {
    result.request = op.data;
  } else {
    result.request = {[op.dps]: op.value};
  }

  return result;
}

async function main() {
  let args;
  let ops;
  try {
    args = parseArgs(process.argv.slice(2));
    const parsed = JSON.parse(args.ops);
    if (!Array.isArray(parsed)) {
      throw new TypeError('--ops must be a JSON array');
    }

    ops = parsed.map(op => normalizeOp(op, args.wait));
  } catch (error) {
    fail('usage: ' + error.message, EXIT_USAGE);
    return;
  }

  // Hard overall deadline: whatever tuyapi does (its get() has no timeout of
  // its own, _send retries with back-off), the process ends by then.
  setTimeout(() => {
    fail(`timeout after ${args.timeout}s` +
      (state.current === null ? '' : ` during op #${state.current}`), EXIT_TIMEOUT);
  }, args.timeout * 1000);

  let TuyAPI;
  try {
    TuyAPI = require('tuyapi');
  } catch (error) {
    fail('tuyapi is not installed in tests/interop/node/node_modules (' + error.message +
      '); run scripts/install-test-deps.sh', EXIT_USAGE);
    return;
  }

  device = new TuyAPI({
    id: args.id,
    key: args.key,
    ip: args.host,
    port: args.port,
    version: args.version,
    issueGetOnConnect: false
  });
  // Without an 'error' listener EventEmitter would throw on tuyapi's error events.
  device.on('error', error => {
    state.errors.push(String(error && error.message ? error.message : error));
  });
  device.on('data', (payload, cmd, seq) => {
    state.events.push({type: 'data', cmd, seq, payload: jsonable(payload)});
  });
  device.on('dp-refresh', (payload, cmd, seq) => {
    state.events.push({type: 'dp-refresh', cmd, seq, payload: jsonable(payload)});
  });

  try {
    await device.connect();
  } catch (error) {
    fail('connect failed: ' + (error && error.message ? error.message : String(error)), EXIT_FAIL);
    return;
  }

  for (let i = 0; i < ops.length; i++) {
    state.current = i;
    try {
      // eslint-disable-next-line no-await-in-loop
      state.results.push(await runOp(ops[i]));
    } catch (error) {
      fail(`op #${i} (${JSON.stringify(ops[i])}) failed: ` +
        (error && error.message ? error.message : String(error)), EXIT_FAIL);
      return;
    }
  }

  state.current = null;
  // A trailing no-wait set must reach the device before disconnect() destroys the socket.
  const client = device.client;
  if (client && !client.destroyed && client.writableLength > 0) {
    await new Promise(resolve => client.once('drain', resolve));
  }

  emitAndExit({ok: true, results: state.results, events: state.events, errors: state.errors}, EXIT_OK);
}

process.on('unhandledRejection', error => {
  fail('unhandled rejection: ' + (error && error.message ? error.message : String(error)), EXIT_FAIL);
});
process.on('uncaughtException', error => {
  fail('uncaught exception: ' + (error && error.message ? error.message : String(error)), EXIT_FAIL);
});

main();
