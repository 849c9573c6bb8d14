/**
 * Ports for the servers a test starts. A port the OS hands out for `listen(0)` comes from
 * the ephemeral range, the same range every outgoing connection takes its local port
 * from: between picking such a port and a child process binding it, one of the thousands
 * of connections a busy suite opens can take it (EADDRINUSE, seen in CI as a bridge that
 * exits before readiness). So tests pick from below the ephemeral range, where no
 * outgoing connection ever lands, and check that the port is free.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const FLOOR = 10_000;

/** ephemeralStart is where Linux starts handing out local ports (32768 unless configured). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > FLOOR + 1_000 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

const CEILING = ephemeralStart();
const handedOut = new Set<number>();

function bindable(port: number, host: string): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** freePort is a port below the ephemeral range that is free on host now and not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = FLOOR + Math.floor(Math.random() * (CEILING - FLOOR));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the probe, so concurrent calls never share one
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port between ${FLOOR} and ${CEILING} on ${host}`);
}
