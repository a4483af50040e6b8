/**
 * Serving the hono app over node:http with a graceful stop: stop accepting, let in-flight
 * requests finish (idle keep-alive connections are closed at once), force-close what is left
 * at the deadline.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { VigilError } from '../model/index.ts';

export interface RunningHttpServer {
  server: Server;
  /** The address actually bound (port resolved when 0 was asked). */
  address: { host: string; port: number };
  /** Stops accepting and waits for in-flight requests, at most `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
}

/** Splits `host:port` (IPv6 in brackets). */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new VigilError('bad_listen_address', `listen address ${JSON.stringify(addr)} is not host:port`);
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new VigilError('bad_listen_address', `listen address ${JSON.stringify(addr)} has an invalid port`);
  return { host: host || '0.0.0.0', port };
}

export async function listen(app: Hono, listenAddress: string): Promise<RunningHttpServer> {
  const { host, port } = splitHostPort(listenAddress);
  const server = createServer(getRequestListener(app.fetch));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE') reject(new VigilError('listen_failed', `cannot listen on ${listenAddress}: address already in use`));
      else if (e.code === 'EACCES') reject(new VigilError('listen_failed', `cannot listen on ${listenAddress}: permission denied`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new VigilError('listen_failed', `cannot listen on ${listenAddress}: address not available on this host`));
      else reject(new VigilError('listen_failed', `cannot listen on ${listenAddress}: ${e.message}`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: { host: a.address, port: a.port },
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
