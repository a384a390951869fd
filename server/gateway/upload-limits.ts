import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './api.ts';
import { MAX_JSONL_UPLOAD_BYTES } from '../../shared/api/capture.ts';

/**
 * Largest body read whole into memory (a JSON Lines trace): the contract's cap (shared/api/capture.ts), the one the
 * UI names. Captures from the lab's own ring are a few MiB; 64 MiB leaves room without letting one request fill the
 * process. pcap/pcapng uploads stream to disk instead (upload-store.ts, MAX_CAPTURE_UPLOAD_BYTES).
 */
export const MAX_REPLAY_UPLOAD_BYTES = MAX_JSONL_UPLOAD_BYTES;
/** How long an over-limit body is drained before the 413 goes out anyway. */
const DRAIN_MS = 10_000;

/**
 * Reads an upload body, or throws 413 when it is over `limit`: at once when Content-Length says so, else as soon as
 * the bytes that arrive pass it (chunked uploads). Nothing past the limit is kept; the rest of an over-limit body is
 * read and thrown away before the answer (a client still sending would otherwise get a reset instead of the 413),
 * for at most DRAIN_MS. The caller should answer with `connection: close`.
 */
export async function readUpload(req: IncomingMessage, limit = MAX_REPLAY_UPLOAD_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    await drain(req);
    throw new HttpError(413, `upload of ${declared} bytes is over the ${describeLimit(limit)} limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (!timer) {
        chunks.length = 0;
        timer = setTimeout(resolve, DRAIN_MS);
      }
    });
    req.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  if (size > limit) throw new HttpError(413, `upload over the ${describeLimit(limit)} limit`);
  return Buffer.concat(chunks, size);
}

async function drain(req: IncomingMessage): Promise<void> {
  req.resume();
  await Promise.race([once(req, 'end'), new Promise((r) => setTimeout(r, DRAIN_MS).unref())]).catch(() => undefined);
}

function describeLimit(limit: number): string {
  return limit % (1024 * 1024) === 0 ? `${limit / 1024 / 1024} MiB` : `${limit}-byte`;
}
