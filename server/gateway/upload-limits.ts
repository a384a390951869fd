import type { IncomingMessage } from 'node:http';
import { HttpError } from './api.ts';

/**
 * Largest replay file (pcapng, pcap, JSON Lines) the gateway takes in one upload. Captures from the lab's own ring
 * are a few MiB; 64 MiB leaves room for outside captures without letting one request fill the process.
 */
export const MAX_REPLAY_UPLOAD_BYTES = 64 * 1024 * 1024;

/**
 * Reads an upload body, refusing it with 413 before buffering when Content-Length already says it is too large,
 * and as soon as the bytes that arrive pass the limit when it does not (chunked uploads).
 */
export async function readUpload(req: IncomingMessage, limit = MAX_REPLAY_UPLOAD_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new HttpError(413, `upload of ${declared} bytes is over the ${limit}-byte limit`);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Over: keep nothing more, let the rest drain to nowhere so the 413 can still be answered on this socket.
      req.off('data', onData);
      chunks.length = 0;
      req.resume();
      reject(new HttpError(413, `upload over the ${limit}-byte limit`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
