/**
 * POST /api/admin: the running target's management API (server/target-admin.ts). One JSON request per change:
 *   {action: "add-lun", target?, lun: "PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES]"}  -> {lun: N}
 *   {action: "remove-lun", target?, lun: N}          (the target's last LUN; its tasks end with TASK ABORTED)
 *   {action: "resize-lun", target?, lun: N, size: "128M"}   (grows only; CAPACITY DATA HAS CHANGED to its nexuses)
 *   {action: "set-acl", target?, acl: ["iqn...", ...]}                       ([] lets any initiator in)
 *   {action: "set-chap", target?, chap: "USER:SECRET" | null, mutualChap?: "USER:SECRET" | null}
 *   {action: "add-target", spec: {iqn, luns: [{path, sizeBytes, thin?, ...}], chap?: {user, secret}, acl?}}
 *   {action: "remove-target", target}                (not the first; its sessions end)
 * `target` defaults to the first target. A LUN spec is checked exactly as `--lun` is; mistakes answer 400/404/409
 * with `{error}` and change nothing. GET /api/config shows the result (and saves it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetConfig } from '../config/target-config.ts';
import { UsageError } from '../config/usage-error.ts';
import { parseLun, parseSize } from '../config/values.ts';
import { AdminError, type TargetAdmin } from '../target-admin.ts';
import { parseTargetDocument } from '../config/config-file.ts';
import type { AdminAnswer } from '../../shared/api/admin.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

const IQN = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

export function adminRoutes(admin: TargetAdmin, config: TargetConfig): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/admin') return false;
    if (req.method !== 'POST') throw new HttpError(405, 'POST {action: "add-lun" | "remove-lun" | "set-acl" | "set-chap", ...}');
    const body = await readJson(req);
    const target = body.target === undefined ? config.iqn : body.target;
    if (typeof target !== 'string') throw new HttpError(400, 'target must be a target IQN');
    try {
      sendJson<AdminAnswer>(res, 200, await apply(admin, target, body));
    } catch (err) {
      if (err instanceof AdminError) throw new HttpError(err.status, err.message);
      if (err instanceof UsageError) throw new HttpError(400, err.message);
      throw err;
    }
    return true;
  };
}

async function apply(admin: TargetAdmin, target: string, body: Record<string, unknown>): Promise<AdminAnswer> {
  switch (body.action) {
    case 'add-lun': {
      if (typeof body.lun !== 'string') throw new HttpError(400, 'lun must be "PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES]"');
      return { target, lun: await admin.addLun(target, parseLun(body.lun)) };
    }
    case 'remove-lun': {
      if (typeof body.lun !== 'number' || !Number.isInteger(body.lun) || body.lun < 0) throw new HttpError(400, 'lun must be a LUN number');
      await admin.removeLun(target, body.lun);
      return { target, removed: body.lun };
    }
    case 'resize-lun': {
      if (typeof body.lun !== 'number' || !Number.isInteger(body.lun) || body.lun < 0) throw new HttpError(400, 'lun must be a LUN number');
      if (typeof body.size !== 'string') throw new HttpError(400, 'size must be a size such as "64M"');
      const blocks = await admin.resizeLun(target, body.lun, parseSize(body.size));
      return { target, lun: body.lun, blocks };
    }
    case 'set-acl': {
      const acl = body.acl;
      if (!Array.isArray(acl) || !acl.every((a): a is string => typeof a === 'string' && IQN.test(a)))
        throw new HttpError(400, 'acl must be a list of initiator IQNs');
      admin.setAcl(target, acl);
      return { target, acl };
    }
    case 'set-chap': {
      admin.setChap(target, credentials(body.chap, 'chap'), credentials(body.mutualChap, 'mutualChap'));
      return { target, chap: body.chap !== null && body.chap !== undefined, mutualChap: body.mutualChap !== null && body.mutualChap !== undefined };
    }
    case 'add-target': {
      // The same shape GET /api/config writes a target in: {iqn, luns: [{path, sizeBytes, thin?, ...}], chap?, acl?}.
      await admin.addTarget(parseTargetDocument(body.spec));
      return { target: (body.spec as { iqn: string }).iqn, added: true };
    }
    case 'remove-target':
      await admin.removeTarget(target);
      return { target, removed: true };
    default:
      throw new HttpError(400, 'action must be "add-lun", "remove-lun", "resize-lun", "set-acl", "set-chap", "add-target" or "remove-target"');
  }
}

function credentials(v: unknown, name: string): { user: string; secret: string } | undefined {
  if (v === undefined || v === null) return undefined;
  const i = typeof v === 'string' ? v.indexOf(':') : -1;
  if (typeof v !== 'string' || i <= 0 || i === v.length - 1) throw new HttpError(400, `${name} must be "USER:SECRET" or null`);
  return { user: v.slice(0, i), secret: v.slice(i + 1) };
}
