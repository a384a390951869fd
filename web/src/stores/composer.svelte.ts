/** The I/O composer: a read or write through the gateway's own initiator, its result, and the task it became. */
import { ascAscqText, senseKeyName } from '../../../shared/protocol/sense.ts';
import { writeDataTooLong } from '../../../shared/api/io.ts';
import { ApiError, postIo, type IoData, type IoRequest, type IoResult } from '../lib/api.ts';
import { bytesToHex, hexToBytes, isHexText } from '../lib/bytes.ts';
import { parseNumber } from '../lib/format.ts';
import { lab } from './lab.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export type DataMode = 'text' | 'hex' | 'pattern' | 'file';

/** The gateway's cap (server/gateway/lab-io.ts MAX_API_IO_BLOCKS). */
export const MAX_BLOCKS = 2048;

export interface DecodedSenseText {
  key: string;
  asc: string;
}

export class Composer {
  lun = $state(0);
  op = $state<'read' | 'write'>('write');
  lba = $state('0');
  blocks = $state('1');
  mode = $state<DataMode>('text');
  text = $state('Hello from the iSCSI Lab');
  hex = $state('de ad be ef');
  pattern = $state('0x5a');
  fileName = $state<string | null>(null);
  fileBytes = $state.raw<Uint8Array | null>(null);
  fua = $state(false);
  /** Step mode: the gateway holds this I/O at each stage until Next. */
  step = $state(false);

  running = $state(false);
  error = $state<string | null>(null);
  result = $state.raw<IoResult | null>(null);
  request = $state.raw<IoRequest | null>(null);
  resultBytes = $state.raw<Uint8Array | null>(null);
  /** The trace task of the last I/O, once its PDUs arrived. */
  taskId = $state<number | null>(null);

  get sense(): DecodedSenseText | undefined {
    const s = this.result?.sense;
    if (!s) return undefined;
    return {
      key: `${senseKeyName(s.key)} (0x${s.key.toString(16)})`,
      asc: `${ascAscqText(s.asc, s.ascq)} (ASC 0x${s.asc.toString(16).padStart(2, '0')} ASCQ 0x${s.ascq.toString(16).padStart(2, '0')})`,
    };
  }

  /** Checks the form; returns the request or sets `error`. */
  build(blockSize: number, lunBlocks: number | undefined): IoRequest | undefined {
    this.error = null;
    const lba = parseNumber(this.lba);
    const blocks = parseNumber(this.blocks);
    if (lba === undefined) return this.fail('LBA must be a whole number (decimal, or hex with 0x)');
    if (blocks === undefined || blocks < 1 || blocks > MAX_BLOCKS) return this.fail(`blocks must be from 1 to ${MAX_BLOCKS}`);
    if (lunBlocks !== undefined && lba + blocks > lunBlocks)
      return this.fail(`LBA ${lba} + ${blocks} blocks runs past the end of LUN ${this.lun} (${lunBlocks} blocks)`);
    if (this.op === 'read') return { lun: this.lun, op: 'read', lba, blocks, fua: this.fua };
    let data: IoData;
    switch (this.mode) {
      case 'text':
        data = { text: this.text };
        break;
      case 'hex':
        if (!isHexText(this.hex)) return this.fail('hex data must be pairs of hex digits, e.g. "de ad be ef"');
        data = { hex: this.hex.replace(/\s+/g, '') };
        break;
      case 'pattern': {
        const p = parseNumber(this.pattern, true);
        if (p === undefined || p > 255) return this.fail('pattern must be one byte, e.g. 0x5a');
        data = { pattern: p };
        break;
      }
      case 'file':
        if (!this.fileBytes) return this.fail('choose a file first');
        data = { hex: bytesToHex(this.fileBytes) };
        break;
    }
    // The gateway refuses it too (400, same words); checking first keeps the mistake out of the page's error log.
    const dataBytes = 'text' in data ? new TextEncoder().encode(data.text).length : 'hex' in data ? data.hex.length / 2 : 0;
    const tooLong = writeDataTooLong(dataBytes, blocks, blockSize);
    if (tooLong) return this.fail(tooLong);
    return { lun: this.lun, op: 'write', lba, blocks, data, fua: this.fua };
  }

  async run(blockSize: number, lunBlocks: number | undefined): Promise<void> {
    const req = this.build(blockSize, lunBlocks);
    if (!req || this.running) return;
    this.running = true;
    this.taskId = null;
    const afterSeq = lab.pdus.at(-1)?.seq ?? -1;
    try {
      const r = await postIo(this.step ? { ...req, step: true } : req);
      this.request = req;
      this.result = r;
      this.resultBytes = r.dataHex ? hexToBytes(r.dataHex) : null;
      void this.findTask(req, afterSeq);
    } catch (err) {
      this.clearResult();
      this.error = err instanceof ApiError ? `The gateway refused the I/O: ${err.message}` : `The I/O failed: ${String(err)}`;
    } finally {
      this.running = false;
    }
  }

  async loadFile(file: File): Promise<void> {
    this.fileName = file.name;
    this.fileBytes = new Uint8Array(await file.arrayBuffer());
  }

  /** The trace arrives in ~200 ms batches: look for the command a few times. */
  private async findTask(req: IoRequest, afterSeq: number): Promise<void> {
    for (let i = 0; i < 20 && this.taskId === null; i++) {
      const pdus = lab.pdus;
      for (let j = pdus.length - 1; j >= 0 && pdus[j]!.seq > afterSeq; j--) {
        const p = pdus[j]!;
        const s = p.scsi;
        if (p.opcode !== IscsiOpcode.ScsiCommand || !s || p.taskId === undefined) continue;
        if (s.lba === req.lba && s.blocks === req.blocks && (s.lun ?? 0) === req.lun && s.opcodeName.startsWith(req.op === 'read' ? 'READ' : 'WRITE')) {
          this.taskId = p.taskId;
          return;
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** A new error replaces whatever the last I/O showed: a stale result under a new error reads as its outcome. */
  private fail(msg: string): undefined {
    this.error = msg;
    this.clearResult();
    return undefined;
  }

  private clearResult(): void {
    this.result = null;
    this.request = null;
    this.resultBytes = null;
    this.taskId = null;
  }
}

export const composer = new Composer();
