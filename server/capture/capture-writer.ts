import { open, type FileHandle } from 'node:fs/promises';
import { PcapngWriter, pduComment } from '../trace/pcapng.ts';
import type { TraceRecorder } from '../trace/recorder.ts';

/** How often buffered pcapng blocks go to disk; a crash loses at most this much of the capture. */
const FLUSH_MS = 500;
/** Blocks held in memory before a flush is forced, whatever the timer says. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * `serve --capture FILE`: every PDU the recorder sees is appended to a pcapng file as it happens (whole PDUs,
 * never truncated), written in batches so the target never waits on the disk.
 */
export class CaptureWriter {
  private readonly writer = new PcapngWriter();
  private pending = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly fh: FileHandle,
    recorder: TraceRecorder,
  ) {
    const base = BigInt(Math.round(recorder.startWallMs)) * 1_000_000n;
    this.unsubscribe = recorder.subscribe(({ event, raw }) => {
      // An injected fault comes after the PDU it acted on was written: it becomes a comment packet of its own.
      if (event.type === 'fault' && event.connectionId !== undefined) {
        this.writer.addNote(event.connectionId, base + BigInt(Math.round(event.timeNs)), `fault (rule ${event.ruleId}, ${event.action}): ${event.detail}`);
        return;
      }
      if (event.type !== 'pdu' || !raw || raw.length !== event.lengths.total) return;
      this.writer.addPdu({
        direction: event.direction,
        connectionId: event.connectionId,
        tcp: event.tcp,
        timeNs: base + BigInt(Math.round(event.timeNs)),
        bytes: raw,
        comment: pduComment(event),
      });
      this.pending += raw.length;
      if (this.pending > MAX_PENDING_BYTES) this.flush();
    });
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
    this.flush();
  }

  static async create(path: string, recorder: TraceRecorder): Promise<CaptureWriter> {
    return new CaptureWriter(await open(path, 'w'), recorder);
  }

  private flush(): void {
    const blocks = this.writer.takeBlocks();
    this.pending = 0;
    if (blocks.length === 0) return;
    this.writing = this.writing.then(() => this.fh.writev(blocks).then(() => undefined));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    this.flush();
    await this.writing;
    await this.fh.close();
  }
}
