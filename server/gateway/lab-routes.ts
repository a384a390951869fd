/**
 * The lab's route table: every /api route the gateway answers, in the order they are tried, built once from
 * dependencies that all exist before the first request can arrive (the lab initiator included). The contract of
 * each route's request and answer is in shared/api/.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunningTarget } from '../run-target.ts';
import type { TargetConfig } from '../config/target-config.ts';
import type { TargetAdmin } from '../target-admin.ts';
import type { TraceRecorder } from '../trace/recorder.ts';
import type { TraceSource } from '../../shared/api/trace.ts';
import type { LabStatus } from '../../shared/api/status.ts';
import type { IoResult } from '../../shared/api/io.ts';
import { HttpError, io, readJson, sendJson, status } from './api.ts';
import type { RouteHandler } from './http-server.ts';
import { LabInitiator } from './lab-io.ts';
import { adminRoutes } from './admin-routes.ts';
import { cacheRoutes } from './cache-routes.ts';
import { captureRoutes } from './capture-routes.ts';
import { configRoutes } from './config-routes.ts';
import { cpuRoutes } from './cpu-routes.ts';
import { faultRoutes } from './fault-routes.ts';
import { fsRoutes } from './fs-routes.ts';
import { lessonRoutes } from './lesson-routes.ts';
import { scsiRoutes } from './scsi-routes.ts';
import { sourceRoutes } from './source-routes.ts';
import { stepRoutes } from './step-routes.ts';
import { uploadRoutes } from './upload-routes.ts';

/** Name the lab's own initiator logs in with: its sessions are the gateway's in /api/status and the trace. */
export const LAB_INITIATOR_NAME = 'iqn.2026-11.org.iscsi-lab:gateway';

/** The lab's own initiator, for the first portal and target; it logs in on first use. */
export function labInitiatorFor(target: RunningTarget, config: TargetConfig): LabInitiator {
  const portal = target.iscsi.listening[0]!;
  return new LabInitiator(
    {
      host: portal.host,
      port: portal.port,
      targetName: config.iqn,
      initiatorName: LAB_INITIATOR_NAME,
      chap: config.chap,
      mutualChap: config.mutualChap,
    },
    target.stepGate,
  );
}

export interface LabRouteDeps {
  readonly target: RunningTarget;
  readonly config: TargetConfig;
  readonly recorder: TraceRecorder;
  readonly lab: LabInitiator;
  readonly admin: TargetAdmin;
  readonly source: TraceSource;
}

/** GET /api/status (LabStatus) and POST /api/io (IoRequestBody -> IoResult). */
function statusAndIoRoutes(lab: LabInitiator, target: RunningTarget, config: TargetConfig): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname === '/api/status' && req.method === 'GET') {
      sendJson<LabStatus>(res, 200, status(target, config));
      return true;
    }
    if (url.pathname !== '/api/io') return false;
    if (req.method !== 'POST') throw new HttpError(405, 'POST only');
    sendJson<IoResult>(res, 200, await io(lab, target, config, await readJson(req)));
    return true;
  };
}

export function labRoutes(d: LabRouteDeps): RouteHandler[] {
  return [
    captureRoutes(d.recorder),
    cacheRoutes(d.target.caches),
    uploadRoutes(d.target, d.config),
    stepRoutes(d.target.stepGate),
    scsiRoutes(d.lab, d.config),
    configRoutes(d.config),
    adminRoutes(d.admin, d.config),
    lessonRoutes(),
    cpuRoutes(),
    fsRoutes(d.lab, d.config),
    faultRoutes(d.target.faults),
    sourceRoutes(d.source),
    statusAndIoRoutes(d.lab, d.target, d.config),
  ];
}
