/**
 * The file-system stage (stages 1-2 of the I/O path: application -> file system): a small ext2 volume on a LUN,
 * made by Debian's own mke2fs and written by debugfs on a shadow copy of the volume; every block the file system
 * changed goes to the LUN as a real WRITE(16) through the lab's initiator, labelled with what it is to ext2 (file
 * data, inode table, bitmaps, superblock...), read from dumpe2fs and debugfs rather than guessed. The shadow is
 * the lab's copy: an initiator writing the same LBAs behind its back is not seen (Format starts over).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FsBlockKind, FsStatus, FsWrite, FsWriteResult } from '../../shared/api/fs.ts';

const run = promisify(execFile);

/** ext2 block size the volume is made with: small, so one short file touches few LBAs. */
const FS_BLOCK = 1024;
/** The volume: 4 MiB at the start of the LUN (where a real initiator would find it). */
const FS_REGION_BYTES = 4 * 1024 * 1024;
const FS_REGION_LBA = 0;
/** Names the stage accepts: one path component, no surprises for debugfs's command line. */
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_FILE_BYTES = 256 * 1024;
/** Logical blocks per WRITE(16): the gateway's own cap (MAX_API_IO_BLOCKS). */
const MAX_RUN_BLOCKS = 2048;

export class FsStageError extends Error {}

/** Writes `data` at `lba` of `lun` (the lab's initiator, POST /api/io's path). */
type BlockWriter = (lun: number, lba: number, data: Uint8Array) => Promise<void>;

interface Volume {
  image: Uint8Array;
  files: string[];
}

interface Layout {
  superblock: Set<number>;
  descriptors: Set<number>;
  blockBitmap: Set<number>;
  inodeBitmap: Set<number>;
  inodeTable: Set<number>;
}

function range(into: Set<number>, from: number, to: number): void {
  for (let b = from; b <= to; b++) into.add(b);
}

/** Where ext2 keeps its metadata, from `dumpe2fs` ("Block bitmap at 3 (+2)", "Inode table at 5-8 (+4)"). */
function parseLayout(text: string): Layout {
  const l: Layout = { superblock: new Set(), descriptors: new Set(), blockBitmap: new Set(), inodeBitmap: new Set(), inodeTable: new Set() };
  for (const m of text.matchAll(/superblock at (\d+), Group descriptors at (\d+)-(\d+)/gi)) {
    l.superblock.add(Number(m[1]));
    range(l.descriptors, Number(m[2]), Number(m[3]));
  }
  for (const m of text.matchAll(/Block bitmap at (\d+)/g)) l.blockBitmap.add(Number(m[1]));
  for (const m of text.matchAll(/Inode bitmap at (\d+)/g)) l.inodeBitmap.add(Number(m[1]));
  for (const m of text.matchAll(/Inode table at (\d+)-(\d+)/g)) range(l.inodeTable, Number(m[1]), Number(m[2]));
  if (l.superblock.size === 0) throw new FsStageError(`dumpe2fs printed no superblock location:\n${text.slice(0, 400)}`);
  return l;
}

async function blocksOf(image: string, path: string): Promise<Set<number>> {
  const { stdout } = await run('debugfs', ['-R', `blocks ${path}`, image]);
  return new Set(
    stdout
      .trim()
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number),
  );
}

export class Ext2Stage {
  private readonly volumes = new Map<number, Volume>();

  constructor(
    private readonly write: BlockWriter,
    private readonly lbaBytes: (lun: number) => Promise<number>,
  ) {}

  status(lun: number): FsStatus {
    const v = this.volumes.get(lun);
    return { lun, formatted: v !== undefined, regionLba: FS_REGION_LBA, regionBytes: FS_REGION_BYTES, files: v?.files ?? [] };
  }

  /** mke2fs on a fresh image, then the whole image onto the LUN (free blocks too: stale data must not look like ext2's). */
  async format(lun: number): Promise<FsWrite[]> {
    return this.withDir(async (dir) => {
      const img = join(dir, 'volume.img');
      await writeFile(img, new Uint8Array(FS_REGION_BYTES));
      // No resize inode or other extras: a plain ext2 a student can read block by block.
      await run('mke2fs', [
        '-q',
        '-F',
        '-t',
        'ext2',
        '-b',
        String(FS_BLOCK),
        '-N',
        '32',
        '-m',
        '0',
        '-L',
        'labfs',
        '-O',
        '^resize_inode,^dir_index,^ext_attr',
        img,
      ]);
      const image = new Uint8Array(await readFile(img));
      const lbaSize = await this.lbaBytes(lun);
      const writes: FsWrite[] = [];
      const runBytes = MAX_RUN_BLOCKS * lbaSize;
      for (let off = 0; off < image.length; off += runBytes) {
        const chunk = image.subarray(off, Math.min(image.length, off + runBytes));
        const lba = FS_REGION_LBA + off / lbaSize;
        await this.write(lun, lba, chunk);
        writes.push({ kind: 'other metadata', lba, blocks: chunk.length / lbaSize });
      }
      this.volumes.set(lun, { image, files: [] });
      return writes;
    });
  }

  /** debugfs writes the file on the shadow; the blocks that changed go to the LUN, each labelled. */
  async writeFile(lun: number, name: string, content: Uint8Array): Promise<FsWriteResult> {
    if (!NAME_RE.test(name)) throw new FsStageError(`file name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_' or '-'`);
    if (content.length > MAX_FILE_BYTES) throw new FsStageError(`file is ${content.length} bytes; the stage takes at most ${MAX_FILE_BYTES}`);
    if (!this.volumes.has(lun)) await this.format(lun);
    const vol = this.volumes.get(lun)!;
    if (vol.files.includes(name)) throw new FsStageError(`${name} exists on the volume already: pick another name (or Format)`);
    return this.withDir(async (dir) => {
      const img = join(dir, 'volume.img');
      const src = join(dir, 'content');
      await writeFile(img, vol.image);
      await writeFile(src, content);
      const { stderr } = await run('debugfs', ['-w', '-R', `write ${src} ${name}`, img]);
      if (/error|could not|no free/i.test(stderr.replace(/^debugfs [^\n]*\n/, ''))) throw new FsStageError(`debugfs could not write ${name}: ${stderr.trim()}`);
      const after = new Uint8Array(await readFile(img));
      const layout = parseLayout((await run('dumpe2fs', [img], { maxBuffer: 4 * 1024 * 1024 })).stdout);
      const data = await blocksOf(img, `/${name}`);
      const root = await blocksOf(img, '/');
      const kindOf = (b: number): FsBlockKind =>
        data.has(b)
          ? 'file data'
          : root.has(b)
            ? 'root directory'
            : layout.superblock.has(b)
              ? 'superblock'
              : layout.descriptors.has(b)
                ? 'group descriptors'
                : layout.blockBitmap.has(b)
                  ? 'block bitmap'
                  : layout.inodeBitmap.has(b)
                    ? 'inode bitmap'
                    : layout.inodeTable.has(b)
                      ? 'inode table'
                      : b === 0
                        ? 'boot'
                        : 'other metadata';
      const lbaSize = await this.lbaBytes(lun);
      const perBlock = FS_BLOCK / lbaSize;
      const writes: FsWrite[] = [];
      for (let b = 0; b * FS_BLOCK < after.length; b++) {
        const off = b * FS_BLOCK;
        const now = after.subarray(off, off + FS_BLOCK);
        if (sameBytes(now, vol.image.subarray(off, off + FS_BLOCK))) continue;
        const lba = FS_REGION_LBA + b * perBlock;
        await this.write(lun, lba, now);
        writes.push({ kind: kindOf(b), lba, blocks: perBlock });
      }
      vol.image = after;
      vol.files.push(name);
      return { name, bytes: content.length, fsBlockSize: FS_BLOCK, regionLba: FS_REGION_LBA, writes };
    });
  }

  private async withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'iscsi-lab-fs-'));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
