// A Service in front of several replicas, as kube-proxy makes one: a TCP address that spreads new
// connections over the ready endpoints (round robin). TLS passes through untouched, so the API server
// emulator verifies each webhook replica's own certificate. A replica being stopped is taken out of the
// endpoints first, as the endpoints controller does when a pod turns unready; with no endpoint left the
// connection is refused, which the API server reports as a webhook call failure.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
}

export interface ServiceProxy {
  readonly host: string;
  readonly port: number;
  setEndpoints(endpoints: Endpoint[]): void;
  endpoints(): Endpoint[];
  /** Connections accepted per endpoint "host:port". */
  connections(): Record<string, number>;
  close(): Promise<void>;
}

export async function startServiceProxy(): Promise<ServiceProxy> {
  let endpoints: Endpoint[] = [];
  let next = 0;
  const perEndpoint = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (endpoints.length === 0) {
      client.destroy();
      return;
    }
    const ep = endpoints[next++ % endpoints.length]!;
    const key = `${ep.host}:${ep.port}`;
    perEndpoint.set(key, (perEndpoint.get(key) ?? 0) + 1);
    const upstream = net.connect(ep.port, ep.host);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    setEndpoints(list) {
      endpoints = [...list];
    },
    endpoints: () => [...endpoints],
    connections: () => Object.fromEntries(perEndpoint),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
