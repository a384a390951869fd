/**
 * A target in the test's own process, on a free loopback port, with one plain LUN in a fresh temporary directory:
 * for tests that speak raw PDUs to it. `useInProcessTarget` registers its start and stop with vitest.
 */
import { afterAll, beforeAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import type { TargetConfig } from '../../server/config/target-config.ts';

interface InProcessTarget {
  readonly iqn: string;
  /** Valid once the suite's beforeAll has run. */
  port: number;
  target: RunningTarget;
}

/** `extra`: more target configuration (e.g. `{ allowTargetReset: true }`). */
export function useInProcessTarget(name: string, lunBytes = 8 << 20, extra: Partial<TargetConfig> = {}): InProcessTarget {
  const t = { iqn: `iqn.2026-11.org.iscsi-lab:${name}`, port: 0 } as InProcessTarget;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `iscsi-lab-${name}-`));
    t.target = await startTarget(
      {
        portals: [{ host: '127.0.0.1', port: 0 }],
        iqn: t.iqn,
        luns: [{ path: join(dir, 'lun0.img'), sizeBytes: lunBytes, thin: false, removable: false, readOnly: false }],
        acl: [],
        ...extra,
      },
      () => undefined,
    );
    t.port = t.target.iscsi.listening[0]!.port;
  });
  afterAll(async () => {
    await t.target?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return t;
}
