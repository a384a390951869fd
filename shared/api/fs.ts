/** The file-system stage (POST /api/fs/format, POST /api/fs/write, GET /api/fs): stages 1-2 of the I/O path. */

/** What a changed block is to ext2: the LBAs a file write became, by role. */
export type FsBlockKind = 'boot' | 'superblock' | 'group descriptors' | 'block bitmap' | 'inode bitmap' | 'inode table' | 'root directory' | 'file data' | 'other metadata';

/** One WRITE(16) the stage issued through the lab's initiator. */
export interface FsWrite {
  readonly kind: FsBlockKind;
  readonly lba: number;
  readonly blocks: number;
}

export interface FsWriteResult {
  readonly name: string;
  readonly bytes: number;
  /** The file system's own block size (1024) and where on the LUN the volume starts. */
  readonly fsBlockSize: number;
  readonly regionLba: number;
  readonly writes: readonly FsWrite[];
}

export interface FsStatus {
  readonly lun: number;
  readonly formatted: boolean;
  readonly regionLba: number;
  readonly regionBytes: number;
  readonly files: readonly string[];
}
