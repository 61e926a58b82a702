// The kv store's own failures (I/O failures are the library's HandoffError 'Io'): what the HTTP app maps
// to 503 (WritesRefused), 413 (TooLarge), 400 (BadKey) and 507 (TooManyKeys, the index is full); Corrupt
// stops a store from opening, and so does TooManyKeys in a log that holds too many keys.

export type StoreErrorCode = 'WritesRefused' | 'TooLarge' | 'BadKey' | 'Corrupt' | 'TooManyKeys';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}
