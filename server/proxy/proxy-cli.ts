/**
 * `iscsi-lab proxy --listen HOST:PORT --target HOST:PORT [--http HOST:PORT] [--capture FILE]`: relays initiators
 * to a real target; with --capture, every relayed PDU goes to a pcapng file as the lab's own target's do (a
 * TraceRecorder on the proxy's taps, server/capture/capture-writer.ts). Prints `ready proxy LISTEN -> TARGET`;
 * SIGTERM/SIGINT stop it. With --http, server/cli.ts runs the proxy inside a lab instead (UI, /ws, statistics).
 */
import { UsageError } from '../config/usage-error.ts';
import { parsePortal } from '../config/values.ts';
import { TraceRecorder } from '../trace/recorder.ts';
import { CaptureWriter } from '../capture/capture-writer.ts';
import { IscsiProxy, type Endpoint } from './proxy.ts';

export const PROXY_USAGE = 'iscsi-lab proxy --listen HOST:PORT --target HOST:PORT [--http HOST:PORT] [--capture FILE]';

export interface ProxyArgs {
  listen: Endpoint;
  target: Endpoint;
  /** Serve the lab's UI and API here too (server/cli.ts runs the proxy inside a lab then). */
  http?: Endpoint;
  capture?: string;
}

export const endpointText = (e: Endpoint): string => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

export function parseProxyArgs(argv: readonly string[]): ProxyArgs {
  let listen: Endpoint | undefined;
  let target: Endpoint | undefined;
  let capture: string | undefined;
  let http: Endpoint | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (!v) throw new UsageError(`${flag} needs a value\nusage: ${PROXY_USAGE}`);
      return v;
    };
    if (flag === '--listen') listen = parsePortal(value());
    else if (flag === '--target') target = parsePortal(value());
    else if (flag === '--capture') capture = value();
    else if (flag === '--http') http = parsePortal(value());
    else throw new UsageError(`unknown argument ${JSON.stringify(a)}\nusage: ${PROXY_USAGE}`);
  }
  if (!listen || !target) throw new UsageError(`--listen and --target are required\nusage: ${PROXY_USAGE}`);
  return { listen, target, http, capture };
}

export async function proxyMain(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const args = parseProxyArgs(argv);
  const proxy = await IscsiProxy.start({ listen: args.listen, target: args.target });
  const recorder = args.capture ? new TraceRecorder({ iscsi: proxy, producer: 'iscsi-lab proxy' }) : undefined;
  const stopRecording = recorder?.start();
  const capture = args.capture && recorder ? await CaptureWriter.create(args.capture, recorder) : undefined;
  out(`ready proxy ${endpointText(proxy.listening)} -> ${endpointText(args.target)}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await proxy.close();
  await capture?.close();
  stopRecording?.();
  recorder?.close();
  return 0;
}
