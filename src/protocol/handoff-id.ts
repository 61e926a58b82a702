// Handoff ids (docs/protocol.md §3.3, §5.1): random v4 UUIDs, lowercase hyphenated in memory, 16 RFC 4122 bytes on the wire.

import { HandoffError } from '../errors.js';
import type { HandoffId } from './messages.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A fresh random v4 handoff id. */
export function newHandoffId(): HandoffId {
  return globalThis.crypto.randomUUID();
}

/** True when `value` is a lowercase hyphenated UUID (any version: ids from other implementations are accepted). */
export function isHandoffId(value: unknown): value is HandoffId {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** The 16 bytes of a handoff id, in RFC 4122 order. Throws `Codec` for a string that is not a UUID. */
export function handoffIdToBytes(id: HandoffId): Uint8Array {
  if (!isHandoffId(id)) {
    throw new HandoffError(
      'Codec',
      `handoff id must be a lowercase hyphenated UUID, got ${JSON.stringify(id)}`,
    );
  }
  const hex = id.replaceAll('-', '');
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The lowercase hyphenated form of 16 UUID bytes. */
export function handoffIdFromBytes(bytes: Uint8Array): HandoffId {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
