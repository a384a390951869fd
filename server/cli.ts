import { fileURLToPath } from 'node:url';
import { loadConfigFile } from './config/config-file.ts';
import { configWarnings, parseTargetArgs } from './config/target-flags.ts';
import type { TargetConfig } from './config/target-config.ts';
import { UsageError } from './config/usage-error.ts';
import { DEFAULT_HTTP, parseHostName, parsePortal } from './config/values.ts';
import { TargetAdmin } from './target-admin.ts';
import { defaultCacheConfig } from './store/cache/config.ts';
import { startGateway } from './gateway/http-server.ts';
import { WsHub } from './gateway/ws-hub.ts';
import { describeResidency } from './gateway/step-routes.ts';
import { labInitiatorFor, labRoutes } from './gateway/lab-routes.ts';
import { status as labStatus } from './gateway/api.ts';
import { TraceRecorder } from './trace/recorder.ts';
import { CaptureWriter } from './capture/capture-writer.ts';
import { startTarget } from './run-target.ts';
import { runInitiatorCommand } from './cli/initiator-commands.ts';
import { LoginError } from './initiator/login.ts';
import { ScsiError } from './initiator/scsi.ts';
import { UrlError } from './initiator/url.ts';
import { replayMain, ReplayUsageError } from './replay/replay.ts';
import { statsMain, StatsUsageError } from './capture/stats-cli.ts';
import { endpointText, parseProxyArgs, proxyMain, type ProxyArgs } from './proxy/proxy-cli.ts';
import { IscsiProxy } from './proxy/proxy.ts';
import { mergeTaps } from './proxy/merged-taps.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureFormatError } from './capture/packet-file.ts';

const USAGE = `usage: iscsi-lab serve [--http HOST:PORT] [--allow-host NAME ...] [--capture FILE.pcapng] [target flags]
                                            the lab: target + API + UI + /ws trace
       iscsi-lab target|serve --config FILE.json      start from a saved configuration (GET /api/config?secrets=true)
       iscsi-lab target --iqn IQN --lun PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES] [--lun ...] [--iqn IQN2 --lun ...]
                        [--portal HOST:PORT ...] [--chap USER:SECRET] [--mutual-chap USER:SECRET] [--acl INITIATOR_IQN ...]
                        [--cache SIZE (0=off)] [--cache-mode write-back|write-through] [--cache-policy lru|2q|arc]
                        [--readahead on|off[,WINDOW]] [--cache-flush-interval MS]
                        [--max-sessions N] [--max-connections N] [--max-commands N] [--max-data-in-flight SIZE]
                        [--allow-target-reset]
                        [--fault ACTION[:key=value,...] ...]   inject faults, e.g. kill-connection:pdu=Data-Out,count=1
       iscsi-lab ls URL                     discover targets and their LUNs
       iscsi-lab inq URL [--evpd PAGE]      INQUIRY (standard, or a VPD page in hex)
       iscsi-lab readcap URL                READ CAPACITY(16)
       iscsi-lab read URL [--lba N] [--blocks N] [--out FILE]     hex dump (or save) blocks
       iscsi-lab write URL [--lba N] (--hex HEX | --text TEXT | --file FILE) [--fua]
       iscsi-lab dd --if URL|FILE --of URL|FILE [--count BLOCKS]
       iscsi-lab replay FILE --target URL [--initiator-name IQN] [--lun-map url|capture] [--sessions recorded|one] [--header-digest] [--data-digest]
                                            re-issue a capture's SCSI commands (pcapng, pcap, JSON Lines) and compare
       iscsi-lab proxy --listen HOST:PORT --target HOST:PORT [--http HOST:PORT] [--capture FILE]
                                            relay initiators to any target byte for byte, recording its PDUs
       iscsi-lab stats FILE [--csv | --rates-csv] [--bucket-ms N]
                                            SCSI service response times per opcode, throughput and IOPS of a capture
  URL: iscsi://[user%secret@]host[:port]/target-iqn/lun
  initiator flags: --initiator-name IQN, --mutual-chap USER:SECRET, --header-digest, --data-digest`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'target':
      return target(rest);
    case 'serve':
      return serve(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    case 'ls':
    case 'inq':
    case 'readcap':
    case 'read':
    case 'write':
    case 'dd':
      return runInitiatorCommand(command, rest, (line) => process.stdout.write(`${line}\n`));
    case 'replay':
      return replayMain(rest, (line) => process.stdout.write(`${line}\n`));
    case 'proxy': {
      const p = parseProxyArgs(rest);
      if (!p.http) return proxyMain(rest, (line) => process.stdout.write(`${line}\n`));
      // With --http the proxy runs inside a lab (gateway, UI, trace): the lab's own small target stays idle on an
      // ephemeral loopback port, its LUN in a temporary folder; the trace shows the proxied connections.
      const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-proxy-'));
      const host = p.http.host.includes(':') ? `[${p.http.host}]` : p.http.host;
      const args = [
        '--http',
        `${host}:${p.http.port}`,
        '--portal',
        '127.0.0.1:0',
        '--lun',
        `${join(dir, 'lun0.img')}:16M`,
        ...(p.capture ? ['--capture', p.capture] : []),
      ];
      return serve(args, p).finally(() => rmSync(dir, { recursive: true, force: true }));
    }
    case 'stats':
      return statsMain(rest, (line) => process.stdout.write(`${line}\n`));
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * The target configuration from the flags, or from `--config FILE` (the JSON GET /api/config writes), which then
 * stands alone: mixing it with target flags would leave unclear which one wins.
 */
async function targetConfig(args: string[], defaults?: Partial<TargetConfig>): Promise<TargetConfig> {
  const i = args.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i < 0) return parseTargetArgs(args, defaults);
  const inline = args[i]!.startsWith('--config=');
  const path = inline ? args[i]!.slice('--config='.length) : args[i + 1];
  if (!path) throw new UsageError('--config needs a file (the JSON GET /api/config returns)');
  const rest = args.filter((_, j) => j !== i && (inline || j !== i + 1));
  if (rest.length > 0) throw new UsageError(`--config FILE replaces the target flags; also given: ${rest.join(' ')}`);
  return loadConfigFile(path);
}

async function target(args: string[]): Promise<number> {
  const config = await targetConfig(args);
  for (const w of configWarnings(config)) process.stderr.write(`iscsi-lab: ${w}\n`);
  const running = await startTarget(config);
  // Handlers go in before `ready` is printed: a supervisor may send SIGTERM the moment it reads that line.
  const done = untilSignal(() => running.stop());
  process.stdout.write(`ready ${running.url}\n`);
  for (const [i, p] of running.iscsi.listening.entries()) if (i > 0) process.stderr.write(`also listening on ${p.host}:${p.port}\n`);
  return done;
}

/**
 * The embedded default the lab starts with when `serve` gets no --lun. The lab shows cache decisions, so its LUN has
 * a 16 MiB write-back cache unless --cache says otherwise. LUNs given with --lun (and `target`) have none unless asked.
 */
const LAB_DEFAULTS = {
  iqn: 'iqn.2026-11.org.iscsi-lab:lab',
  portals: [{ host: '127.0.0.1', port: 3260 }],
  luns: [{ path: 'lab-data/lun0.img', sizeBytes: 64 * 1024 * 1024, thin: false, removable: false, readOnly: false }],
  cache: { ...defaultCacheConfig(), sizeBytes: 16 * 1024 * 1024 },
};

async function serve(args: string[], proxyArgs?: ProxyArgs): Promise<number> {
  let http = parsePortal(DEFAULT_HTTP);
  let capturePath: string | undefined;
  const allowedHosts: string[] = [];
  const targetArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const flag = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (flag === '--http' || flag === '--capture' || flag === '--allow-host') {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (!v) throw new UsageError(`${flag} needs a value`);
      if (flag === '--http') http = parsePortal(v);
      else if (flag === '--allow-host') allowedHosts.push(parseHostName(v));
      else capturePath = v;
    } else targetArgs.push(a);
  }
  const config = await targetConfig(targetArgs, LAB_DEFAULTS);
  for (const w of configWarnings(config)) process.stderr.write(`iscsi-lab: ${w}\n`);
  const running = await startTarget(config);
  const proxy = proxyArgs ? await IscsiProxy.start({ listen: proxyArgs.listen, target: proxyArgs.target }) : undefined;
  // The gateway always keeps a bounded ring of recent PDUs: that ring is what /api/capture.pcapng downloads.
  const recorder = new TraceRecorder({
    iscsi: proxy ? mergeTaps(running.iscsi, proxy) : running.iscsi,
    scsi: running.scsi,
    faults: running.faults,
    producer: proxy ? 'iscsi-lab proxy' : 'iscsi-lab serve',
  });
  const stopRecording = recorder.start();
  const capture = capturePath ? await CaptureWriter.create(capturePath, recorder) : undefined;
  // Everything a route needs exists before the gateway listens: the lab's own initiator (it logs in on first use)
  // first, then the one route table, then the server.
  const lab = labInitiatorFor(running, config);
  const routes = labRoutes({
    target: running,
    config,
    recorder,
    lab,
    admin: new TargetAdmin(running, config),
    source: proxy ? { kind: 'proxy', listen: endpointText(proxy.listening), target: endpointText(proxyArgs!.target) } : { kind: 'target' },
  });
  const gateway = await startGateway({
    iscsiUrl: running.url,
    host: http.host,
    port: http.port,
    allowedHosts,
    webRoot: fileURLToPath(new URL('../dist/web', import.meta.url)),
    routes,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const hub = new WsHub({
    server: gateway.server,
    recorder,
    status: () => labStatus(running, config),
    authorize: (req, url) => gateway.access.allows(req, url),
    hostRefusal: (req) => gateway.guard.hostRefusal(req),
  });
  const { stepGate } = running;
  stepGate.describeStore = (lun, lba, blocks) => describeResidency(running.caches[lun], lba, blocks);
  const stopStepBroadcast = stepGate.onChange((step) => hub.broadcast({ type: 'step', step }));
  const done = untilSignal(async () => {
    stopStepBroadcast();
    stepGate.continue();
    hub.close();
    await lab.close();
    await gateway.close();
    await proxy?.close();
    await running.stop();
    await capture?.close();
    stopRecording();
    recorder.close();
  });
  process.stdout.write(`lab ${gateway.url}\n`);
  if (proxy) process.stdout.write(`ready proxy ${endpointText(proxy.listening)} -> ${endpointText(proxyArgs!.target)}\n`);
  else process.stdout.write(`ready ${running.url}\n`);
  return done;
}

function untilSignal(stopAll: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`${signal}: finishing in-flight commands and flushing LUNs\n`);
      stopAll().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`iscsi-lab: shutdown failed: ${String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

// Input must never kill the target: a stray rejection is logged with its context instead of ending the process.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`iscsi-lab: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      err instanceof UrlError ||
      err instanceof ReplayUsageError ||
      err instanceof StatsUsageError ||
      err instanceof CaptureFormatError
    ) {
      process.stderr.write(`iscsi-lab: ${err.message}\n`);
      process.exit(2);
    }
    // Real failures of an initiator command: login refused, CHECK CONDITION with decoded sense, connection lost.
    if (err instanceof LoginError || err instanceof ScsiError || (err instanceof Error && /^(login|connect)/.test(err.message))) {
      process.stderr.write(`iscsi-lab: ${err.message}\n`);
      process.exit(1);
    }
    const e = err as NodeJS.ErrnoException;
    // Environment failures (port taken, unreadable LUN file) are one line, not a stack trace.
    if (e && typeof e.code === 'string') {
      process.stderr.write(`iscsi-lab: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`iscsi-lab: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
