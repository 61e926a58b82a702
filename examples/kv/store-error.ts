// The kv store's own failures (I/O failures are the library's HandoffError 'Io'): what the HTTP app maps
// to 503 (WritesRefused), 413 (TooLarge) and 400 (BadKey); Corrupt stops a store from opening.

export type StoreErrorCode = 'WritesRefused' | 'TooLarge' | 'BadKey' | 'Corrupt';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}
