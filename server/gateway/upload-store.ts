/**
 * Uploads over HTTP into the capture store (server/capture/capture-store.ts): the body streams to a file there, so
 * one of any size never sits in memory, and the store's errors become the HTTP answers 400, 404 and 413.
 */
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { CaptureStore, CaptureStoreError, DEFAULT_PAGE, MAX_CAPTURE_UPLOAD_BYTES, type EventPage, type UploadSummary } from '../capture/capture-store.ts';
import type { LoadedCapture } from '../capture/load-capture.ts';
import type { CaptureStats } from '../capture/srt.ts';
import { HttpError } from './api.ts';

const STATUS = { 'bad-request': 400, 'too-large': 413, 'not-found': 404 } as const;

/** The store's call, its CaptureStoreError said as an HttpError. */
async function asHttp<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof CaptureStoreError) throw new HttpError(STATUS[err.kind], err.message);
    throw err;
  }
}

export class UploadStore {
  constructor(private readonly store = new CaptureStore()) {}

  /** Streams an upload to disk, indexes it, keeps it; throws HttpError 400/413 with the reason. */
  async receive(req: IncomingMessage, name: string): Promise<UploadSummary> {
    const { id, path } = await this.store.newPath();
    let bytes: number;
    try {
      bytes = await streamToFile(req, path, MAX_CAPTURE_UPLOAD_BYTES);
    } catch (err) {
      await this.store.discard(path);
      throw err;
    }
    return asHttp(() => this.store.add(id, name, path, bytes));
  }

  page(id: string, from: number, count = DEFAULT_PAGE): Promise<EventPage> {
    return asHttp(() => this.store.page(id, from, count));
  }

  forReplay(id: string): Promise<{ name: string; capture: LoadedCapture | Uint8Array }> {
    return asHttp(() => this.store.forReplay(id));
  }

  stats(id: string): CaptureStats {
    try {
      return this.store.stats(id);
    } catch (err) {
      if (err instanceof CaptureStoreError) throw new HttpError(STATUS[err.kind], err.message);
      throw err;
    }
  }

  has(id: string): boolean {
    return this.store.has(id);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** Writes the request body to `path`; 413 as soon as it passes `limit` (the rest is drained, not stored). */
function streamToFile(req: IncomingMessage, path: string, limit: number): Promise<number> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `upload of ${declared} bytes is over the ${limit / 1024 / 1024} MiB limit`));
  }
  return new Promise((resolve, reject) => {
    const file = createWriteStream(path);
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (over) return;
      if (size > limit) {
        over = true;
        req.unpipe(file);
        file.destroy();
        return;
      }
    });
    req.pipe(file);
    req.once('error', reject);
    file.once('error', (err) => {
      if (!over) reject(err);
    });
    req.once('end', () => {
      if (over) reject(new HttpError(413, `upload over the ${limit / 1024 / 1024} MiB limit`));
      else file.end(() => resolve(size));
    });
  });
}
