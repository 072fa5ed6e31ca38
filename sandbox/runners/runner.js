// Weft sandbox runner for JavaScript (Debian's node v20). docs/sandbox.md "Job protocol" and
// "Code node API" describe what this file speaks and what user code sees.
//
// Started inside the sandbox as `node --max-old-space-size=N runner.js`. It announces itself with
// {"t":"ready"} on fd 1, reads exactly ONE job frame from fd 0, runs it, sends {"t":"result"} or
// {"t":"error"}, waits for the host's {"t":"ack"}, says {"t":"done"} and exits. The host kills
// the whole sandbox afterwards anyway.
//
// fd 1 carries protocol frames only: process.stdout is pointed at fd 2 and the console writes
// log frames, so nothing user code prints can corrupt a frame. (Node cannot dup2; code that
// writes to fd 1 itself breaks its own job: the host answers protocol_error.)
'use strict';

const fs = require('fs');
const vm = require('vm');
const util = require('util');

const FRAME_FD = 1;
const LOG_CAP = 8192;          // characters per log message
const STACK_CAP = 4096;        // characters of a user stack kept in an error
const CODE_FILE = 'code.js';   // the name user code carries in stack traces
const NODE_FILE = 'node.js';   // the same for a custom-node file
Error.stackTraceLimit = 50;    // the user's frame may sit under several library frames

const { Writable } = require('stream');

function writeAllSync(fd, buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

// process.stdout and process.stderr both write synchronously to fd 2 (captured text): a flood
// then blocks on the pipe until the host's cap kills it, instead of piling up in memory.
const textStream = new Writable({
  decodeStrings: true,
  write(chunk, encoding, callback) {
    try {
      writeAllSync(2, chunk);
      callback();
    } catch (e) {
      callback(e);
    }
  },
});
textStream.fd = 2;
textStream.isTTY = false;
for (const name of ['stdout', 'stderr']) {
  Object.defineProperty(process, name, { configurable: true, enumerable: true, get() { return textStream; } });
}

// ---- frames to the host ----------------------------------------------------------------------

let finished = false;
let awaitingAck = false;
let currentFile = CODE_FILE;
const realExit = process.exit.bind(process);
process.exit = (code) => {
  fail({ name: 'Error', message: `the code called process.exit(${code === undefined ? '' : String(code)})` });
};

// Whether stdin keeps the event loop alive: only while a host call waits for its reply (stdin is
// read asynchronously only once a host call needs it).
function holdStdin(hold) {
  if (!asyncStdin) return;
  const s = process.stdin;
  if (hold && typeof s.ref === 'function') s.ref();
  if (!hold && typeof s.unref === 'function') s.unref();
}

function writeFrameBytes(buf) {
  writeAllSync(FRAME_FD, buf);
}

// Strings are sent well-formed (lone surrogates become U+FFFD): the host rejects invalid UTF-8.
function wellFormed(key, value) {
  return typeof value === 'string' ? value.toWellFormed() : value;
}

// `frame` is an object, or a frame's JSON text already made.
function send(frame) {
  const text = typeof frame === 'string' ? frame : JSON.stringify(frame, wellFormed);
  writeFrameBytes(Buffer.from(text + '\n', 'utf8'));
}

function capText(s, cap) {
  return s.length > cap ? s.slice(0, cap) + ` ... [${s.length - cap} characters cut]` : s;
}

function log(level, args) {
  if (finished) return;
  let msg;
  try {
    msg = util.formatWithOptions({ colors: false, depth: 4 }, ...args);
  } catch (e) {
    msg = '[unprintable log message]';
  }
  send({ t: 'log', level, msg: capText(msg, LOG_CAP) });
}

// The global console writes log frames (required modules' output included).
for (const [name, level] of [['log', 'info'], ['info', 'info'], ['debug', 'debug'], ['warn', 'warn'],
                             ['error', 'error'], ['trace', 'debug']]) {
  console[name] = (...args) => log(level, args);
}
console.dir = (obj, options) => log('info', [util.inspect(obj, { ...options, colors: false })]);

// ---- errors ----------------------------------------------------------------------------------

function userLines(code) {
  let n = 1;
  for (let i = 0; i < code.length; i++) if (code.charCodeAt(i) === 10) n++;
  return n;
}

// A SyntaxError from vm.Script carries "<file>:<line>\n<source line>\n<caret line>" in its stack.
function syntaxErrorInfo(err, file, code) {
  const stack = String(err.stack || '');
  const info = { name: err.name || 'SyntaxError', message: String(err.message) };
  const lines = stack.split('\n');
  const m = /^(.*):(\d+)$/.exec(lines[0] || '');
  if (m && m[1] === file) {
    let line = Number(m[2]);
    let column = lines[2] !== undefined && lines[2].indexOf('^') >= 0 ? lines[2].indexOf('^') + 1 : 1;
    const last = userLines(code);
    if (line > last) {  // reported on the wrapper's closing line: the end of the user's code
      const tail = code.split('\n')[last - 1] || '';
      line = last;
      column = tail.length + 1;
    }
    if (line < 1) line = 1;
    info.line = line;
    info.column = column;
    info.stack = capText(`${info.name}: ${info.message}\n    at ${file}:${line}:${column}`, STACK_CAP);
  }
  return info;
}

// Innermost stack frame in the user's file, and the stack reduced to the user's frames.
function runtimeErrorInfo(err, file) {
  const isError = err !== null && typeof err === 'object' && 'stack' in err;
  let name = 'Error';
  let message;
  try {
    if (isError) {
      name = String(err.name || 'Error');
      message = String(err.message);
    } else {
      message = typeof err === 'string' ? err : util.inspect(err, { depth: 2 });
    }
  } catch (e) {
    message = '[unprintable error]';
  }
  const info = { name, message: capText(message, LOG_CAP) };
  if (isError && typeof err.code === 'string') info.code = err.code;
  const stack = isError ? String(err.stack || '') : '';
  const re = new RegExp('(?:^|[\\s(])' + file.replace('.', '\\.') + ':(\\d+):(\\d+)');
  const kept = [];
  for (const l of stack.split('\n').slice(1)) {
    const m = re.exec(l);
    if (!m) continue;
    if (info.line === undefined) {
      info.line = Number(m[1]);
      info.column = Number(m[2]);
    }
    kept.push(l);
  }
  info.stack = capText([`${name}: ${info.message}`, ...kept].join('\n'), STACK_CAP);
  return info;
}

function finish(frame) {
  if (finished) return;
  try {
    send(frame);
  } catch (e) {
    try {
      send({ t: 'error', error: { name: 'InternalError', message: 'the runner could not send its answer' } });
    } catch (e2) { /* the host sees the exit */ }
  }
  finished = true;
  // The host acknowledges the answer once it has read the text written before it; "done" tells
  // it so (protocol: result|error -> ack -> done). Then nothing of this process is needed.
  awaitingAck = true;
  if (asyncStdin) {
    holdStdin(true);
    return;
  }
  for (;;) {
    const line = readLineSync();
    if (line === null) realExit(0);
    let frame;
    try {
      frame = JSON.parse(line);
    } catch (e) {
      realExit(0);
    }
    if (frame && frame.t === 'ack') {
      onAck();
      return;
    }
  }
}

function onAck() {
  if (!awaitingAck) return;
  awaitingAck = false;
  try {
    send({ t: 'done' });
  } catch (e) { /* exiting anyway */ }
  realExit(0);
}

function fail(info) {
  finish({ t: 'error', error: info });
}

function resultFrame(value, what) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value, wellFormed);
  } catch (e) {
    return { t: 'error', error: { name: 'TypeError',
      message: `${what} is not JSON-serialisable: ${e && e.message ? e.message : String(e)}` } };
  }
  if (text === undefined) {
    return { t: 'error', error: { name: 'TypeError',
      message: `${what} is not JSON-serialisable (a ${typeof value})` } };
  }
  return '{"t":"result","value":' + text + '}';
}

// ---- host calls ------------------------------------------------------------------------------

class WeftError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'WeftError';
    this.code = code;
  }
}

let nextCallId = 1;
const pending = new Map();

function hostCall(op, args) {
  if (typeof op !== 'string' || op === '') return Promise.reject(new TypeError('weft.call: op must be a non-empty string'));
  const id = nextCallId++;
  // Created now, so its stack points at the user's line that made the call.
  const err = new WeftError('host_call_failed', '');
  let frame;
  try {
    frame = { t: 'call', id, op, args: args === undefined ? {} : JSON.parse(JSON.stringify(args, wellFormed)) };
  } catch (e) {
    return Promise.reject(new TypeError(`weft.${op}: the arguments are not JSON-serialisable: ${e.message}`));
  }
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, err });
    startAsyncStdin();
    holdStdin(true);
    send(frame);
  });
}

function onReply(frame) {
  const p = pending.get(frame.id);
  if (!p) return;
  pending.delete(frame.id);
  if (pending.size === 0) holdStdin(false);
  if (frame.ok) {
    p.resolve(frame.value);
  } else {
    const e = frame.error || {};
    p.err.code = String(e.code || 'host_call_failed');
    p.err.message = String(e.message || 'the host call failed');
    p.err.stack = `WeftError: ${p.err.message}\n` + String(p.err.stack).split('\n').slice(1).join('\n');
    p.reject(p.err);
  }
}

function makeWeft(context) {
  return Object.freeze({
    log: (...args) => log('info', args),
    http: (request) => hostCall('http_request', request),
    credential: (name) => hostCall('credential_get', { name }),
    call: (op, args) => hostCall(op, args),
    context,
  });
}

// ---- the job ---------------------------------------------------------------------------------

function itemsOf(input) {
  if (Array.isArray(input)) return input;
  if (input === undefined || input === null) return [];
  return [input];
}

function compile(source, file, code) {
  try {
    return new vm.Script(source, { filename: file, lineOffset: -1 }).runInThisContext();
  } catch (e) {
    if (e instanceof SyntaxError || (e && e.name === 'SyntaxError')) {
      fail(syntaxErrorInfo(e, file, code));
    } else {
      fail(runtimeErrorInfo(e, file));
    }
    return undefined;
  }
}

function loadNodeFile(code) {
  // CommonJS, like a module file: `module.exports = {...}`.
  const fn = compile('(function (exports, require, module, __filename, __dirname) {\n' + code + '\n})',
                     NODE_FILE, code);
  if (!fn) return undefined;
  const mod = { exports: {} };
  try {
    fn.call(mod.exports, mod.exports, require, mod, '/weft/' + NODE_FILE, '/weft');
  } catch (e) {
    fail(runtimeErrorInfo(e, NODE_FILE));
    return undefined;
  }
  const decl = mod.exports;
  if (decl === null || typeof decl !== 'object' || Array.isArray(decl)) {
    fail({ name: 'TypeError', message: 'a custom node file must set module.exports to an object' });
    return undefined;
  }
  if (typeof decl.execute !== 'function') {
    fail({ name: 'TypeError', message: 'a custom node file must export an execute(items, params, weft) function' });
    return undefined;
  }
  return decl;
}

async function runJob(job) {
  const code = typeof job.code === 'string' ? job.code : '';
  const input = job.input === undefined ? null : job.input;
  const params = job.params === undefined || job.params === null ? {} : job.params;
  const context = job.context === undefined || job.context === null ? {} : job.context;
  const weft = makeWeft(context);
  const items = itemsOf(input);

  if (job.mode === 'describe' || (job.mode === 'run' && job.custom_node)) {
    currentFile = NODE_FILE;
    const decl = loadNodeFile(code);
    if (!decl) return;
    if (job.mode === 'describe') {
      const out = {};
      for (const k of Object.keys(decl)) if (k !== 'execute') out[k] = decl[k];
      finish(resultFrame(out, 'the node declaration'));
      return;
    }
    let value;
    try {
      value = await decl.execute(items, params, weft);
    } catch (e) {
      fail(runtimeErrorInfo(e, NODE_FILE));
      return;
    }
    finish(resultFrame(value === undefined ? items : value, "the node's return value"));
    return;
  }
  if (job.mode !== 'run') {
    fail({ name: 'ProtocolError', message: `unknown job mode ${JSON.stringify(job.mode)}` });
    return;
  }
  const fn = compile('(async function (items, $input, params, $context, weft, require) {\n' + code + '\n})',
                     CODE_FILE, code);
  if (!fn) return;
  let value;
  try {
    value = await fn(items, input, params, context, weft, require);
  } catch (e) {
    fail(runtimeErrorInfo(e, CODE_FILE));
    return;
  }
  finish(resultFrame(value === undefined ? items : value, "the code's return value"));
}

process.on('uncaughtException', (e) => fail(runtimeErrorInfo(e, currentFile)));
process.on('unhandledRejection', (e) => fail(runtimeErrorInfo(e, currentFile)));
// Nothing left to wait for (no timer, no host call) and no answer yet: the code's promise can never
// settle.
process.on('beforeExit', () => {
  fail({ name: 'Error', message: "the code's promise never settled (it awaits something that cannot happen)" });
});

// ---- stdin -------------------------------------------------------------------------------------
// The job frame, and the final ack unless a host call came first, are read synchronously: a warm
// runner sleeps in read(2) and wakes straight into the job, without the event loop and the stream
// machinery in between. Host-call replies are read asynchronously (the calls return promises).

const lines = [];  // complete lines received and not handled yet
let partial = [];  // the bytes of the line being received
let asyncStdin = false;

function feed(chunk) {
  let start = 0;
  for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
    partial.push(chunk.subarray(start, i));
    lines.push(Buffer.concat(partial).toString('utf8'));
    partial = [];
    start = i + 1;
  }
  if (start < chunk.length) partial.push(Buffer.from(chunk.subarray(start)));  // chunk may be reused
}

// The next line from stdin, or null at end of input.
function readLineSync() {
  const buf = Buffer.allocUnsafe(1 << 16);
  while (lines.length === 0) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      if (e.code === 'EOF') return null;
      throw e;
    }
    if (n === 0) return null;
    feed(buf.subarray(0, n));
  }
  return lines.shift();
}

function onLine(line) {
  let frame;
  try {
    frame = JSON.parse(line);
  } catch (e) {
    fail({ name: 'ProtocolError', message: 'the host sent a malformed frame' });
    return;
  }
  if (frame.t === 'reply') {
    onReply(frame);
  } else if (frame.t === 'ack') {
    onAck();
  }
}

function startAsyncStdin() {
  if (asyncStdin) return;
  asyncStdin = true;
  process.stdin.on('data', (chunk) => {
    feed(chunk);
    while (lines.length > 0) onLine(lines.shift());
  });
  process.stdin.on('end', () => {
    if (awaitingAck) realExit(0);
  });
  while (lines.length > 0) onLine(lines.shift());
}

// Runs the hot paths once before saying ready, so V8 has compiled them (lazily, on first call)
// before the job's clock starts. Sends nothing.
function warmUp() {
  try {
    const fn = new vm.Script('(async function (items) {\nreturn items.length;\n})', { filename: CODE_FILE, lineOffset: -1 })
      .runInThisContext();
    fn([]).catch(() => {});
    resultFrame([{ a: 'b' }], 'warm-up');
    JSON.parse('{"t":"job","mode":"run","code":"","input":[{"x":1}],"params":{},"context":{}}');
    runtimeErrorInfo(new Error('warm-up'), CODE_FILE);
    itemsOf([]);
    makeWeft({});
    Buffer.concat([Buffer.from('{"t":"ack"}')]).toString('utf8');
  } catch (e) { /* only an optimisation */ }
}

warmUp();
send({ t: 'ready' });
const jobLine = readLineSync();
if (jobLine === null) realExit(0);  // the host went away before sending a job
let job;
try {
  job = JSON.parse(jobLine);
} catch (e) {
  job = undefined;
}
if (job === null || typeof job !== 'object' || job.t !== 'job') {
  fail({ name: 'ProtocolError', message: 'expected a job frame' });
} else {
  runJob(job).catch((e) => fail(runtimeErrorInfo(e, currentFile)));
}
