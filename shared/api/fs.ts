/** The file-system stage (GET /api/fs?lun=N -> FsStatus, POST /api/fs/format -> FsFormatResult, POST /api/fs/write -> FsWriteResult): stages 1-2 of the I/O path. */

/** What a changed block is to ext2: the LBAs a file write became, by role. */
export type FsBlockKind =
  'boot' | 'superblock' | 'group descriptors' | 'block bitmap' | 'inode bitmap' | 'inode table' | 'root directory' | 'file data' | 'other metadata';

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

/** POST /api/fs/format body ({lun}) and POST /api/fs/write body ({lun, name, text}); `lun` defaults to 0. */
export interface FsFormatRequest {
  readonly lun?: number;
}
export interface FsWriteRequest {
  readonly lun?: number;
  readonly name: string;
  readonly text: string;
}

/** POST /api/fs/format answer: the writes the format became, and the stage afterwards. */
export interface FsFormatResult {
  readonly writes: readonly FsWrite[];
  readonly status: FsStatus;
}
