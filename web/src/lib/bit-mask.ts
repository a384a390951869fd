/**
 * A bit field's mask as Wireshark draws it: eight positions for the byte, bit 7 first, '•' for the field's bits
 * and '.' for the others ("..•• ...." style without the gap): exactly 8 characters per byte, nothing more.
 */
export function bitMaskText(mask: number): string {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0xff) throw new RangeError(`a bit mask covers one byte (0-0xff), not ${mask}`);
  let out = '';
  for (let bit = 7; bit >= 0; bit--) out += mask & (1 << bit) ? '•' : '.';
  return out;
}
