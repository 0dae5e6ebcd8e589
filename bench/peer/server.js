'use strict';
// natter-peer: the chat server people would write with the usual Node stack
// (Socket.IO + its Redis adapter + mysql2), used as the baseline Natter is
// benchmarked against. It does the same work per message as Natter:
// authenticate the socket, INSERT the message into MariaDB, then broadcast it
// to the room through Redis so every process's sockets in that room get it.
// Everything follows the libraries' READMEs; nothing is tuned beyond them.

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const http = require('node:http');
const os = require('node:os');
const { promisify } = require('node:util');
const mysql = require('mysql2/promise');
const { createClient } = require('redis');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');

const PORT = Number(process.env.PORT ?? 3100);
const HOST = process.env.HOST || '127.0.0.1';
const MYSQL_URL = process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/natter_peer';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const WORKERS = Math.max(1, Number(process.env.WORKERS) || os.availableParallelism());

const MAX_BODY = 64 * 1024; // HTTP request bodies and Socket.IO packets alike
const MESSAGE_MAX = 4000; // characters, as in Natter
const CLIENT_ID_MAX = 64;
const HISTORY_PAGE = 50;

// ---------------------------------------------------------------- schema

async function ensureSchema() {
  // The database may not exist yet, so connect without one first.
  const url = new URL(MYSQL_URL);
  const db = decodeURIComponent(url.pathname.slice(1));
  if (!/^\w+$/.test(db)) throw new Error(`MYSQL_URL must name a database (letters, digits, _): ${db}`);
  url.pathname = '/';
  const conn = await mysql.createConnection(url.toString());
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await conn.query(`USE \`${db}\``);
    const opts = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci';
    await conn.query(`CREATE TABLE IF NOT EXISTS peer_users (
      id BIGINT AUTO_INCREMENT PRIMARY KEY,
      username VARCHAR(64) NOT NULL UNIQUE,
      password_hash VARCHAR(255) NOT NULL) ${opts}`);
    await conn.query(`CREATE TABLE IF NOT EXISTS peer_sessions (
      token_hash CHAR(64) PRIMARY KEY,
      user_id BIGINT NOT NULL,
      created_at BIGINT NOT NULL) ${opts}`);
    await conn.query(`CREATE TABLE IF NOT EXISTS peer_messages (
      id BIGINT AUTO_INCREMENT PRIMARY KEY,
      room_id BIGINT NOT NULL,
      author_id BIGINT NOT NULL,
      client_id VARCHAR(64) NOT NULL,
      body TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      KEY room_id_id (room_id, id)) ${opts}`);
  } finally {
    await conn.end();
  }
}

// ---------------------------------------------------------------- helpers

const scrypt = promisify(crypto.scrypt);
const SCRYPT = { N: 16384, r: 8, p: 1 }; // needs 16 MiB, under Node's 32 MiB maxmem default

async function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, 64, SCRYPT);
  return `${salt.toString('hex')}:${key.toString('hex')}`;
}

async function verifyPassword(password, stored) {
  const [saltHex, keyHex] = String(stored).split(':');
  const expected = Buffer.from(keyHex || '', 'hex');
  const key = await scrypt(password, Buffer.from(saltHex || '', 'hex'), 64, SCRYPT);
  return expected.length === key.length && crypto.timingSafeEqual(expected, key);
}

// Unknown usernames still pay for one scrypt, so timing does not tell who exists.
const DUMMY_HASH = `${'00'.repeat(16)}:${'00'.repeat(64)}`;

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// Limits count characters (code points), like VARCHAR(64) and Natter do.
const charsWithin = (s, min, max) =>
  typeof s === 'string' && s.length >= min && (s.length <= max || [...s].length <= max);

// Rooms and message ids are positive integers: JSON numbers on the socket,
// digits in the query string.
const roomId = (n) => (Number.isSafeInteger(n) && n > 0 ? n : null);
const queryId = (s) => (typeof s === 'string' && /^\d{1,15}$/.test(s) ? roomId(Number(s)) : null);

// ---------------------------------------------------------------- worker

async function startWorker() {
  const pool = mysql.createPool(MYSQL_URL); // mysql2 defaults: 10 connections per process

  // Exactly as the @socket.io/redis-adapter README shows for the `redis` package.
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on('error', (e) => console.error('redis:', e.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  // A session token is 64 hex chars; only its SHA-256 is stored.
  async function userForToken(token) {
    if (typeof token !== 'string' || !/^[0-9a-f]{64}$/.test(token)) return null;
    const [rows] = await pool.execute(
      'SELECT u.id, u.username FROM peer_sessions s JOIN peer_users u ON u.id = s.user_id WHERE s.token_hash = ?',
      [sha256(token)]);
    return rows[0] || null;
  }

  async function newSession(userId) {
    const token = crypto.randomBytes(32).toString('hex');
    await pool.execute('INSERT INTO peer_sessions (token_hash, user_id, created_at) VALUES (?, ?, ?)',
      [sha256(token), userId, Date.now()]);
    return token;
  }

  // ------------------------------------------------------------ HTTP API

  const routes = {
    'POST /signup': async ({ body }) => {
      const { username, password } = body;
      if (!charsWithin(username, 1, 64) || !charsWithin(password, 1, 128))
        return [400, { error: 'username (1-64 chars) and password (1-128 chars) are required' }];
      let id;
      try {
        const [r] = await pool.execute('INSERT INTO peer_users (username, password_hash) VALUES (?, ?)',
          [username, await hashPassword(password)]);
        id = r.insertId;
      } catch (e) {
        if (e.code === 'ER_DUP_ENTRY') return [409, { error: 'username taken' }];
        throw e;
      }
      return [200, { token: await newSession(id) }];
    },

    'POST /login': async ({ body }) => {
      const { username, password } = body;
      if (!charsWithin(username, 1, 64) || !charsWithin(password, 1, 128))
        return [401, { error: 'wrong username or password' }];
      const [rows] = await pool.execute('SELECT id, password_hash FROM peer_users WHERE username = ?', [username]);
      const ok = await verifyPassword(password, rows[0] ? rows[0].password_hash : DUMMY_HASH);
      if (!rows[0] || !ok) return [401, { error: 'wrong username or password' }];
      return [200, { token: await newSession(rows[0].id) }];
    },

    'GET /history': async ({ req, url }) => {
      const auth = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
      if (!auth || !(await userForToken(auth[1]))) return [401, { error: 'unauthorized' }];
      const room = queryId(url.searchParams.get('room'));
      const before = url.searchParams.has('before') ? queryId(url.searchParams.get('before')) : Number.MAX_SAFE_INTEGER;
      if (room === null || before === null) return [400, { error: 'room (and before) must be positive integers' }];
      // Newest page below `before`, read newest-first off the (room_id, id) index, then flipped.
      // The same plan hints as Natter's query: left alone, MariaDB reads the (small) users
      // table first and sorts the whole room, seconds per page at a million messages.
      // The page size is a constant, so it is inlined: mysql2 binds JS numbers as DOUBLE,
      // which some servers refuse for a prepared `LIMIT ?`.
      const [rows] = await pool.execute(
        `SELECT m.id, m.room_id AS room, u.username AS author, m.body, m.created_at, m.client_id
           FROM peer_messages m FORCE INDEX (room_id_id)
           STRAIGHT_JOIN peer_users u FORCE INDEX (PRIMARY) ON u.id = m.author_id
          WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ${HISTORY_PAGE}`,
        [room, before]);
      return [200, { messages: rows.reverse() }];
    },
  };

  function send(res, status, obj) {
    const data = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  }

  // Plain node:http; Socket.IO takes /socket.io/ requests and hands every other one to this.
  async function onRequest(req, res) {
    const url = new URL(req.url, 'http://peer');
    const route = routes[`${req.method} ${url.pathname}`];
    if (!route) {
      req.resume();
      return send(res, 404, { error: 'not found' });
    }
    let body = {};
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (raw === null) {
        res.setHeader('connection', 'close'); // stop reading an oversized upload
        return send(res, 413, { error: 'body over 64 KiB' });
      }
      try {
        body = JSON.parse(raw);
      } catch {
        body = null;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        return send(res, 400, { error: 'body must be a JSON object' });
    }
    const [status, out] = await route({ req, url, body });
    send(res, status, out);
  }

  // Resolves to the body as a string, or null once it passes MAX_BODY.
  function readBody(req) {
    return new Promise((resolve, reject) => {
      if (Number(req.headers['content-length']) > MAX_BODY) {
        req.resume();
        return resolve(null);
      }
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > MAX_BODY) {
          req.removeAllListeners('data').resume();
          resolve(null);
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  const httpServer = http.createServer((req, res) => {
    onRequest(req, res).catch((e) => {
      console.error('http:', e.message);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  // ------------------------------------------------------------ Socket.IO

  const io = new Server(httpServer, {
    transports: ['websocket'],
    maxHttpBufferSize: MAX_BODY,
    adapter: createAdapter(pubClient, subClient),
  });

  // Handshake auth: the client connects with `auth: { token }`.
  io.use(async (socket, next) => {
    try {
      const user = await userForToken(socket.handshake.auth && socket.handshake.auth.token);
      if (!user) return next(new Error('unauthorized'));
      socket.data.userId = user.id;
      socket.data.username = user.username;
      next();
    } catch (e) {
      console.error('auth:', e.message);
      next(new Error('unavailable'));
    }
  });

  // Clients may omit the ack callback or send junk in its place; never assume one.
  const reply = (ack, obj) => typeof ack === 'function' && ack(obj);

  io.on('connection', (socket) => {
    socket.on('join', (p, ack) => {
      const room = roomId(p && p.room);
      if (room === null) return reply(ack, { error: 'room must be a positive integer' });
      socket.join('r' + room);
      reply(ack, { ok: true });
    });

    socket.on('leave', (p, ack) => {
      const room = roomId(p && p.room);
      if (room === null) return reply(ack, { error: 'room must be a positive integer' });
      socket.leave('r' + room);
      reply(ack, { ok: true });
    });

    socket.on('send', async (p, ack) => {
      const room = roomId(p && p.room);
      if (room === null || !socket.rooms.has('r' + room)) return reply(ack, { error: 'join the room first' });
      const { client_id, body } = p;
      if (!charsWithin(client_id, 1, CLIENT_ID_MAX)) return reply(ack, { error: 'client_id must be 1-64 chars' });
      if (!charsWithin(body, 1, MESSAGE_MAX)) return reply(ack, { error: 'body must be 1-4000 chars' });
      const created_at = Date.now();
      let id;
      try {
        // One INSERT per message through the pool: the idiomatic way.
        const [r] = await pool.execute(
          'INSERT INTO peer_messages (room_id, author_id, client_id, body, created_at) VALUES (?, ?, ?, ?, ?)',
          [room, socket.data.userId, client_id, body, created_at]);
        id = r.insertId;
      } catch (e) {
        console.error('insert:', e.message);
        return reply(ack, { error: 'could not store the message' });
      }
      reply(ack, { id, created_at });
      // Local sockets get it directly; the adapter publishes it to Redis for the other workers.
      io.to('r' + room).emit('message', { id, room, author: socket.data.username, body, created_at, client_id });
    });
  });

  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(PORT, HOST, resolve);
  });

  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 5000).unref(); // don't hang on a stuck client
    io.close(async () => {
      await Promise.allSettled([pool.end(), pubClient.close(), subClient.close()]);
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  return httpServer.address().port;
}

// ---------------------------------------------------------------- primary

function fail(e) {
  console.error('peer:', e.stack || e.message);
  process.exit(1);
}

if (cluster.isPrimary) {
  ensureSchema().then(() => {
    if (WORKERS === 1) {
      return startWorker().then((port) => console.log(`peer listening on http://${HOST}:${port} (1 workers)`));
    }
    // Socket.IO's documented multi-core setup: node:cluster workers share the port
    // (the primary hands connections out round-robin) and the Redis adapter
    // carries broadcasts between them. Sticky sessions are only needed for the
    // HTTP long-polling transport; clients here use websocket only, so each
    // Socket.IO session lives on one TCP connection and needs none.
    let listening = 0;
    let alive = WORKERS; // counted here: cluster.workers may still list a worker at its 'exit'
    let stopping = false;
    const stop = (code) => {
      if (stopping) return;
      stopping = true;
      process.exitCode = code;
      for (const w of Object.values(cluster.workers)) if (!w.isDead()) w.process.kill('SIGTERM');
    };
    cluster.on('listening', (worker, address) => {
      if (++listening === WORKERS) console.log(`peer listening on http://${HOST}:${address.port} (${WORKERS} workers)`);
    });
    cluster.on('exit', (worker, code, signal) => {
      alive--;
      if (!stopping) {
        // A benchmark baseline should fail loudly rather than quietly lose a core.
        console.error(`peer: worker ${worker.process.pid} died (${signal || code}); stopping`);
        stop(1);
      }
      if (alive === 0) process.exit(process.exitCode);
    });
    process.on('SIGTERM', () => stop(0));
    process.on('SIGINT', () => stop(0));
    for (let i = 0; i < WORKERS; i++) cluster.fork();
  }).catch(fail);
} else {
  startWorker().catch(fail);
}
