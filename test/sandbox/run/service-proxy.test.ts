// The Service stand-in (the sandbox's webhook Service, the end-to-end tests' too): new connections go
// round robin over the endpoints; a removed endpoint keeps its established connections unless its pod
// died (cut); with no endpoint a connection is refused at once; a half-close is passed on.
import net from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { startServiceProxy, type ServiceProxy } from '../../../sandbox/run/service-proxy.js';
import { waitFor } from '../../helpers/wait.js';

/** A TCP server answering each line with "<name>:<line>"; on the client's FIN it answers "bye" and ends. */
async function backend(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.setEncoding('utf8');
    s.on('data', (d: string) => s.write(`${name}:${d}`));
    s.on('end', () => s.end('bye'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A client of the proxy that records what it received and how its connection ended. */
function connect(proxy: ServiceProxy) {
  const c = { received: '', ended: false, closed: false, error: undefined as string | undefined };
  const socket = net.connect({ port: proxy.port, host: proxy.host, allowHalfOpen: true });
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (c.received += d));
  socket.on('end', () => (c.ended = true));
  socket.on('close', () => (c.closed = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (c.error = err.code ?? err.message));
  return { socket, c };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(names: string[]) {
  const backends = await Promise.all(names.map(backend));
  const proxy = await startServiceProxy();
  cleanup.push(...backends.map((b) => () => b.close()), () => proxy.close());
  const endpoints = backends.map((b) => ({ host: '127.0.0.1', port: b.port }));
  return { proxy, endpoints };
}

describe('the Service stand-in', () => {
  it('spreads new connections over the endpoints in turn and counts them', async () => {
    const { proxy, endpoints } = await setup(['a', 'b']);
    proxy.setEndpoints(endpoints);
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { socket, c } = connect(proxy);
      socket.write('hi');
      await waitFor('an answer', () => c.received.includes(':hi'));
      answers.push(c.received.split(':')[0]!);
      socket.destroy();
    }
    expect(answers).toEqual(['a', 'b', 'a', 'b']);
    expect(proxy.connections()).toEqual({
      [`127.0.0.1:${endpoints[0]!.port}`]: 2,
      [`127.0.0.1:${endpoints[1]!.port}`]: 2,
    });
  });

  it('refuses a connection at once when no endpoint is left', async () => {
    const { proxy } = await setup([]);
    const { c } = connect(proxy);
    await waitFor('the connection closed', () => c.closed);
    expect(c.received).toBe('');
    expect(c.error).toBe('ECONNRESET');
  });

  it('passes a half-close on: the endpoint still answers after the client’s FIN', async () => {
    const { proxy, endpoints } = await setup(['a']);
    proxy.setEndpoints(endpoints);
    const { socket, c } = connect(proxy);
    socket.end('last');
    await waitFor('the answer and the end', () => c.ended);
    expect(c.received).toBe('a:lastbye');
  });

  it('keeps a removed endpoint’s connections, unless its pod died (cut)', async () => {
    const { proxy, endpoints } = await setup(['a', 'b']);
    proxy.setEndpoints([endpoints[0]!]);
    const first = connect(proxy);
    first.socket.write('1');
    await waitFor('an answer', () => first.c.received === 'a:1');

    // Taken out of the Service (unready): the established connection still works, new ones go to b.
    proxy.setEndpoints([endpoints[1]!]);
    first.socket.write('2');
    await waitFor('an answer on the old connection', () => first.c.received === 'a:1a:2');
    const second = connect(proxy);
    second.socket.write('3');
    await waitFor('an answer from b', () => second.c.received === 'b:3');

    // b's pod dies: its connections are cut, a's (not in the list either) too; nothing is left to serve.
    proxy.setEndpoints([], { cut: true });
    await waitFor('both connections ended', () => first.c.ended && second.c.ended);
    expect(proxy.endpoints()).toEqual([]);
  });
});
