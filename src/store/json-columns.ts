// How optional JSON values travel through text columns. SQL NULL means "absent"
// (undefined); the JSON text `null` means an explicit null. Time travel relies
// on the difference to rebuild a record exactly.

export function encodeOptional(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function decodeOptional(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
