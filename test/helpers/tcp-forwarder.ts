import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on a fixed 127.0.0.1 port in front of a server (s3rver in the tests), with three
 * modes: forward; hold (accept, never answer: a server that hangs); down (not listening:
 * connection refused). Switching modes resets the connections open at the time.
 */
export interface TcpForwarder {
  port: number;
  url: string;
  mode: 'forward' | 'hold' | 'down';
  forward(): Promise<void>;
  hold(): Promise<void>;
  down(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpForwarder(target: { host: string; port: number }, port = 0): Promise<TcpForwarder> {
  const sockets = new Set<Socket>();
  let mode: TcpForwarder['mode'] = 'forward';
  let server: Server | undefined;
  let boundPort = port;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        client.on('error', () => undefined);
        if (mode === 'hold') return;
        const upstream = createConnection(target);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(boundPort, '127.0.0.1', () => {
        const address = next.address();
        boundPort = typeof address === 'object' && address ? address.port : boundPort;
        server = next;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server) return resolve();
      const current = server;
      server = undefined;
      current.close(() => resolve());
    });

  const switchTo = async (next: TcpForwarder['mode']) => {
    await stop();
    mode = next;
    if (next !== 'down') await listen();
  };

  await listen();
  return {
    get port() {
      return boundPort;
    },
    get url() {
      return `http://127.0.0.1:${boundPort}`;
    },
    get mode() {
      return mode;
    },
    forward: () => switchTo('forward'),
    hold: () => switchTo('hold'),
    down: () => switchTo('down'),
    close: stop,
  };
}
