import { randomBytes } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { random } from './images.js';

/**
 * A fault-injecting HTTP proxy in front of an S3-compatible server (s3rver in the tests), on
 * 127.0.0.1 only. Requests pass through streamed (bodies are piped, never buffered whole); the
 * host header and every signed header are kept, so SigV4 signatures still verify upstream.
 *
 * Faults, all changeable at run time:
 * - `setRates({ slowDown, reset })`: answer a fraction of requests with 503 SlowDown (an S3 XML
 *   error body) and reset a fraction of connections (RST), half before the request is forwarded and
 *   half in the middle of the response;
 * - `addRule(...)`: per request pattern (method + path/query regex), answer 503 SlowDown, reset, or
 *   hold the request open (not forwarded) until released, optionally for a period or a number of hits;
 *   `failWrites(/manifest\.jsonl/, ms)` is the usual one;
 * - `startOutage('refuse' | 'blackhole')` / `endOutage()`: unreachable. `refuse` stops listening
 *   and destroys open connections (clients get ECONNREFUSED / ECONNRESET); `blackhole` accepts and
 *   never answers (the held requests are reset when the outage ends).
 * `counters` says what it did; `events` keeps the last faults with their time.
 */
export type RuleAction = 'slowdown' | 'reset' | 'hold';
export type OutageMode = 'refuse' | 'blackhole';

export interface FaultRule {
  /** Shown in counters.rules and events. */
  name: string;
  /** Upper-case HTTP methods the rule applies to; default: all. */
  methods?: string[];
  /** Tested against the raw request target (path and query, e.g. `/bucket/key?uploads`). */
  path?: RegExp;
  action: RuleAction;
  /** Share of matching requests hit; default 1. */
  probability?: number;
  /** Epoch milliseconds after which the rule stops applying; default never. */
  until?: number;
  /** The rule stops after this many hits; default unlimited. */
  maxHits?: number;
}

export interface HeldRequest {
  id: number;
  rule: string;
  method: string;
  url: string;
  since: number;
  /** The client's port on 127.0.0.1: which process holds the other end can be looked up. */
  clientPort: number;
  /** True once the client went away (or the request was released). */
  readonly closed: boolean;
  /** Forward the request upstream now, or reset its connection. */
  release(how: 'forward' | 'reset'): void;
}

export interface ProxyCounters {
  requests: number;
  forwarded: number;
  slowDown: number;
  resetBeforeForward: number;
  resetMidResponse: number;
  held: number;
  blackholed: number;
  /** Outages started. */
  outages: number;
  /** Connections destroyed when a `refuse` outage started. */
  droppedAtOutage: number;
  /** Requests that arrived during an outage; for `refuse` only those already on an open connection. */
  duringOutage: number;
  upstreamErrors: number;
  /** Hits per rule name. */
  rules: Record<string, number>;
}

export interface FaultEvent {
  at: number;
  action: string;
  method: string;
  url: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:port — give it to the fleet as S3_ENDPOINT. */
  endpoint: string;
  port: number;
  counters: ProxyCounters;
  /** The last 500 faults, oldest first. */
  events: FaultEvent[];
  setRates(rates: { slowDown?: number; reset?: number }): void;
  /** Adds a rule (checked before the random rates, first match wins); returns its remover. */
  addRule(rule: FaultRule): () => void;
  /** 503 SlowDown for PUT/POST requests whose target matches, for durationMs (default until removed). */
  failWrites(path: RegExp, durationMs?: number): () => void;
  /** Requests held by a `hold` rule and not yet released or closed. */
  held(): HeldRequest[];
  releaseHeld(how: 'forward' | 'reset'): number;
  startOutage(mode: OutageMode): Promise<void>;
  endOutage(): Promise<void>;
  /** startOutage, wait durationMs, endOutage. */
  unreachableFor(durationMs: number, mode: OutageMode): Promise<void>;
  readonly outage: OutageMode | undefined;
  /** A one-line summary of the counters. */
  summary(): string;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Upstream S3 endpoint, http://host:port. */
  upstream: string;
  /** Seed of the fault dice (reproducible runs). */
  seed?: number;
  /** Called for every fault, e.g. to write a log file. */
  onEvent?: (event: FaultEvent) => void;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

function withoutHopByHop(headers: IncomingHttpHeaders, extra: string[] = []): IncomingHttpHeaders {
  const copy = { ...headers };
  for (const name of [...HOP_BY_HOP, ...extra]) delete copy[name];
  return copy;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

function s3Error(res: ServerResponse, status: number, code: string, message: string, resource: string): void {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(body);
}

export async function startS3FaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:') throw new Error(`the fault proxy forwards to http:// only, not ${options.upstream}`);
  const upstreamPort = Number(upstream.port || 80);
  // Idle upstream sockets are dropped before s3rver's 5 s keep-alive timeout would close them under us.
  const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
  const dice = random(options.seed ?? 1);
  const counters: ProxyCounters = {
    requests: 0,
    forwarded: 0,
    slowDown: 0,
    resetBeforeForward: 0,
    resetMidResponse: 0,
    held: 0,
    blackholed: 0,
    outages: 0,
    droppedAtOutage: 0,
    duringOutage: 0,
    upstreamErrors: 0,
    rules: {},
  };
  const events: FaultEvent[] = [];
  const rates = { slowDown: 0, reset: 0 };
  const rules: { rule: FaultRule; hits: number }[] = [];
  const heldRequests = new Set<HeldRequest>();
  const blackholed = new Set<IncomingMessage>();
  const sockets = new Set<Socket>();
  let outage: OutageMode | undefined;
  let nextHeldId = 1;
  let closing = false;

  const record = (action: string, req: IncomingMessage) => {
    const event = { at: Date.now(), action, method: req.method ?? '', url: req.url ?? '' };
    events.push(event);
    if (events.length > 500) events.shift();
    options.onEvent?.(event);
  };

  const reset = (socket: Socket) => {
    if (socket.destroyed) return;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  };

  /** Streams the request upstream and the answer back; `cut` resets the client mid-response. */
  const forward = (req: IncomingMessage, res: ServerResponse, cut = false) => {
    counters.forwarded++;
    const upstreamRequest = httpRequest(
      {
        host: upstream.hostname,
        port: upstreamPort,
        method: req.method,
        path: req.url,
        // The host header stays: it is signed. expect is unsigned and handled by this server.
        headers: { ...withoutHopByHop(req.headers, ['expect']), ...(req.headers['transfer-encoding'] ? { 'transfer-encoding': req.headers['transfer-encoding'] } : {}) },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
        if (!cut) {
          answer.pipe(res);
          answer.on('error', () => res.destroy());
          return;
        }
        const length = Number(answer.headers['content-length'] ?? 0);
        let sent = 0;
        const cutAt = Math.floor(length / 2);
        if (length <= 1) {
          res.flushHeaders();
          answer.resume();
          reset(req.socket);
          return;
        }
        answer.on('data', (chunk: Buffer) => {
          if (req.socket.destroyed) return;
          const room = cutAt - sent;
          if (chunk.length < room) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          res.write(chunk.subarray(0, Math.max(0, room)), () => reset(req.socket));
          answer.destroy();
        });
        answer.on('error', () => reset(req.socket));
      },
    );
    upstreamRequest.on('error', (error) => {
      counters.upstreamErrors++;
      if (!res.headersSent && !res.destroyed) s3Error(res, 502, 'InternalError', `fault proxy: upstream failed: ${error.message}`, req.url ?? '');
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    req.on('error', () => upstreamRequest.destroy());
    req.pipe(upstreamRequest);
  };

  const slowDown = (req: IncomingMessage, res: ServerResponse) => {
    counters.slowDown++;
    // Read the request body to its end (discarding it) so the connection stays usable.
    req.on('error', () => undefined);
    req.on('end', () => {
      if (!res.destroyed) s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.', (req.url ?? '').split('?')[0]!);
    });
    req.resume();
  };

  const hold = (req: IncomingMessage, res: ServerResponse, rule: string) => {
    counters.held++;
    let closed = false;
    let released = false;
    const entry: HeldRequest = {
      id: nextHeldId++,
      rule,
      method: req.method ?? '',
      url: req.url ?? '',
      since: Date.now(),
      clientPort: req.socket.remotePort ?? 0,
      get closed() {
        return closed || released;
      },
      release(how) {
        if (released) return;
        released = true;
        heldRequests.delete(entry);
        if (closed || req.socket.destroyed) return;
        if (how === 'forward') forward(req, res);
        else reset(req.socket);
      },
    };
    res.on('close', () => {
      closed = true;
      heldRequests.delete(entry);
    });
    heldRequests.add(entry);
  };

  const matchRule = (req: IncomingMessage): FaultRule | undefined => {
    const now = Date.now();
    for (const entry of rules) {
      const { rule } = entry;
      if (rule.until !== undefined && now > rule.until) continue;
      if (rule.maxHits !== undefined && entry.hits >= rule.maxHits) continue;
      if (rule.methods && !rule.methods.includes(req.method ?? '')) continue;
      if (rule.path && !rule.path.test(req.url ?? '')) continue;
      if (rule.probability !== undefined && dice() >= rule.probability) continue;
      entry.hits++;
      counters.rules[rule.name] = (counters.rules[rule.name] ?? 0) + 1;
      return rule;
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    counters.requests++;
    if (closing) {
      reset(req.socket);
      return;
    }
    if (outage) {
      counters.duringOutage++;
      if (outage === 'refuse') {
        reset(req.socket);
        return;
      }
      counters.blackholed++;
      record('blackhole', req);
      blackholed.add(req);
      req.socket.once('close', () => blackholed.delete(req));
      return;
    }
    const rule = matchRule(req);
    if (rule) {
      record(`${rule.action} (${rule.name})`, req);
      if (rule.action === 'slowdown') return slowDown(req, res);
      if (rule.action === 'hold') return hold(req, res, rule.name);
      counters.resetBeforeForward++;
      return reset(req.socket);
    }
    const roll = dice();
    if (roll < rates.slowDown) {
      record('slowdown', req);
      return slowDown(req, res);
    }
    if (roll < rates.slowDown + rates.reset) {
      if (dice() < 0.5) {
        counters.resetBeforeForward++;
        record('reset before forward', req);
        return reset(req.socket);
      }
      counters.resetMidResponse++;
      record('reset mid-response', req);
      return forward(req, res, true);
    }
    forward(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  // Held and blackholed requests wait as long as a scenario says; idle client connections live
  // longer than the upstream's (s3rver: 5 s), so the proxy adds no keep-alive races of its own.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;

  const proxy: FaultProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    counters,
    events,
    get outage() {
      return outage;
    },
    setRates(next) {
      if (next.slowDown !== undefined) rates.slowDown = next.slowDown;
      if (next.reset !== undefined) rates.reset = next.reset;
    },
    addRule(rule) {
      const entry = { rule, hits: 0 };
      rules.push(entry);
      return () => {
        const index = rules.indexOf(entry);
        if (index >= 0) rules.splice(index, 1);
      };
    },
    failWrites(path, durationMs) {
      return proxy.addRule({
        name: `fail writes ${path.source}`,
        methods: ['PUT', 'POST'],
        path,
        action: 'slowdown',
        until: durationMs === undefined ? undefined : Date.now() + durationMs,
      });
    },
    held: () => [...heldRequests].filter((entry) => !entry.closed),
    releaseHeld(how) {
      const entries = [...heldRequests];
      for (const entry of entries) entry.release(how);
      return entries.length;
    },
    async startOutage(mode) {
      if (outage) return;
      outage = mode;
      counters.outages++;
      if (mode === 'refuse') {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) {
          counters.droppedAtOutage++;
          reset(socket);
        }
        await closed;
      }
    },
    async endOutage() {
      const was = outage;
      outage = undefined;
      for (const req of blackholed) reset(req.socket);
      blackholed.clear();
      if (was !== 'refuse' || closing) return;
      // Listen again on the same port; bounded retries in case the port is briefly busy.
      for (let attempt = 1; ; attempt++) {
        try {
          await listen(port);
          return;
        } catch (error) {
          if (attempt >= 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    },
    async unreachableFor(durationMs, mode) {
      await proxy.startOutage(mode);
      try {
        await new Promise((resolve) => setTimeout(resolve, durationMs));
      } finally {
        await proxy.endOutage();
      }
    },
    summary() {
      const parts = [
        `${counters.requests} requests`,
        `${counters.forwarded} forwarded`,
        counters.slowDown && `${counters.slowDown} SlowDown`,
        counters.resetBeforeForward && `${counters.resetBeforeForward} reset before forward`,
        counters.resetMidResponse && `${counters.resetMidResponse} reset mid-response`,
        counters.held && `${counters.held} held`,
        counters.outages && `${counters.outages} outage(s)`,
        counters.blackholed && `${counters.blackholed} blackholed`,
        counters.droppedAtOutage && `${counters.droppedAtOutage} connections dropped at outage`,
        counters.duringOutage && `${counters.duringOutage} requests during outage`,
        counters.upstreamErrors && `${counters.upstreamErrors} upstream errors`,
        ...Object.entries(counters.rules).map(([name, hits]) => `rule "${name}": ${hits}`),
      ];
      return parts.filter(Boolean).join(', ');
    },
    async close() {
      closing = true;
      for (const entry of heldRequests) entry.release('reset');
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
  return proxy;
}
