/**
 * Rules of POST /api/io that the gateway enforces and the UI (composer, console) checks first with the same words,
 * so a mistake reads the same wherever it is made.
 */

/** Write data longer than the blocks asked for: never truncated, refused with this text (undefined: it fits). */
export function writeDataTooLong(dataBytes: number, blocks: number, blockSize: number): string | undefined {
  const room = blocks * blockSize;
  if (dataBytes <= room) return undefined;
  return `write data is ${dataBytes} bytes but ${blocks} block(s) of ${blockSize} bytes hold ${room}: ask for ${Math.ceil(dataBytes / blockSize)} blocks or send less data`;
}
