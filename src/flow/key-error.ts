// A payload that names no usable record: a key field or a routing identifier
// value that is empty, blocked or malformed. Ingest answers it as a bad
// request naming the field; a source rejects the item with it.
export class KeyError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'KeyError';
  }
}
