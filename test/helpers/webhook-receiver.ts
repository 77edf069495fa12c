import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How a webhook receiver answers: 200 "ok"; never (the request hangs until close); a redirect;
 * or a status with a body of `bodyBytes` streamed with backpressure (so `bytesSent` counts what
 * the sender actually took).
 */
export type ReceiverAnswer = 'ok' | 'hang' | { redirectTo: string } | { status: number; bodyBytes: number };

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** TCP connections accepted, whether or not a request followed. */
  readonly connections: number;
  readonly requests: ReceivedRequest[];
  /** Response body bytes the sender accepted (written without backpressure). */
  readonly bytesSent: number;
  /** Resolves once the streamed answer's connection closed (for `bodyBytes` answers). */
  answerClosed(): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** A real HTTP server on 127.0.0.1 that records what reaches it and answers as told. */
export async function startReceiver(answer: ReceiverAnswer): Promise<Receiver> {
  const state = { connections: 0, bytesSent: 0, requests: [] as ReceivedRequest[] };
  let closedAnswer: () => void = () => undefined;
  const answerClosed = new Promise<void>((resolve) => (closedAnswer = resolve));
  const stream = (response: ServerResponse, total: number) => {
    response.on('close', closedAnswer);
    const pump = () => {
      while (state.bytesSent < total && !response.destroyed) {
        state.bytesSent += CHUNK.length;
        if (!response.write(CHUNK)) return void response.once('drain', pump);
      }
      response.end();
    };
    pump();
  };
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      state.requests.push({ path: request.url ?? '', headers: request.headers, body });
      if (answer === 'hang') return;
      if (answer === 'ok') return void response.end('ok');
      if ('redirectTo' in answer) return void response.writeHead(307, { location: answer.redirectTo }).end();
      response.writeHead(answer.status, { 'content-type': 'application/octet-stream', 'content-length': String(answer.bodyBytes) });
      stream(response, answer.bodyBytes);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    get bytesSent() {
      return state.bytesSent;
    },
    answerClosed: () => answerClosed,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
