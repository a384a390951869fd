/**
 * SCSI commands besides READ/WRITE for the console, issued by the lab's own initiator over real iSCSI (so they show
 * in the trace like any other command):
 * - GET /api/inquiry?lun=N[&page=0x80]: standard INQUIRY data decoded (SPC-4 6.6.2), or a VPD page as hex
 * - GET /api/readcap?lun=N: READ CAPACITY(16) (SBC-3 5.16)
 * A CHECK CONDITION is a 422 whose error names the sense ("INQUIRY: CHECK CONDITION, ILLEGAL REQUEST: ...").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetConfig } from '../config/target-config.ts';
import { ScsiError } from '../initiator/scsi.ts';
import type { LabInitiator } from './lab-io.ts';
import type { InquiryData, ReadCapacity, VpdPage } from '../../shared/api/scsi.ts';
import { HttpError, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

const DEVICE_TYPES: Record<number, string> = {
  0x00: 'direct access block device',
  0x05: 'CD/DVD device',
  0x0c: 'storage array controller',
  0x0d: 'enclosure services device',
};

function lunOf(url: URL, config: TargetConfig): number {
  const text = url.searchParams.get('lun') ?? '0';
  const lun = Number(text);
  if (!/^\d+$/.test(text) || lun >= config.luns.length) throw new HttpError(400, `lun must be an integer from 0 to ${config.luns.length - 1}`);
  return lun;
}

function pageOf(url: URL): number | undefined {
  const text = url.searchParams.get('page');
  if (text === null || text === '') return undefined;
  const page = /^0x[0-9a-f]{1,2}$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(page >= 0 && page <= 0xff)) throw new HttpError(400, 'page must be a VPD page code, 0 to 255 or 0x00 to 0xff');
  return page;
}

export function scsiRoutes(lab: LabInitiator, config: TargetConfig): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/inquiry' && url.pathname !== '/api/readcap') return false;
    if (req.method !== 'GET') throw new HttpError(405, 'GET only');
    const lun = lunOf(url, config);
    try {
      if (url.pathname === '/api/readcap') {
        const c = await lab.readCapacity(lun);
        sendJson<ReadCapacity>(res, 200, { lun, lastLba: Number(c.blocks - 1n), blocks: Number(c.blocks), blockSize: c.blockSize, thin: c.thin });
        return true;
      }
      const page = pageOf(url);
      const d = await lab.inquiry(lun, page);
      if (page !== undefined) {
        sendJson<VpdPage>(res, 200, { lun, page, length: d.length, hex: d.toString('hex') });
        return true;
      }
      const text = (a: number, b: number): string => d.subarray(a, b).toString('latin1').trim();
      const type = d[0]! & 0x1f;
      sendJson<InquiryData>(res, 200, {
        lun,
        peripheralDeviceType: type,
        deviceType: DEVICE_TYPES[type] ?? `type 0x${type.toString(16)}`,
        removable: (d[1]! & 0x80) !== 0,
        version: d[2]!,
        vendor: text(8, 16),
        product: text(16, 32),
        revision: text(32, 36),
        hex: d.toString('hex'),
      });
      return true;
    } catch (err) {
      if (err instanceof ScsiError) throw new HttpError(422, err.message);
      throw err;
    }
  };
}
