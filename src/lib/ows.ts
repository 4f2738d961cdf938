/**
 * RFC 9110 §5.6.3: optional whitespace is SP and HTAB, nothing else. Header
 * values are trimmed of it and of no other character: JavaScript's trim()
 * also drops NBSP (byte 0xA0 as Node reads header bytes), U+3000, the BOM and
 * more, which would make a value with a stray byte equal to a valid one.
 */
export function trimOws (value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

function isOws (code: number): boolean {
  return code === 0x20 || code === 0x09
}
