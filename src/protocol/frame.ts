// Frames (docs/protocol.md §3.2): u32 LE frame_len, u16 LE proto_version, then one postcard message.
// The length is validated from its 4 bytes alone, before any body is buffered.

import { HandoffError } from '../errors.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { MAX_FRAME_BYTES, type Message, PROTO_MAX } from './messages.js';

/** Bytes before the payload: the u32 length and the u16 version. */
export const FRAME_HEADER_BYTES = 6;
const LENGTH_BYTES = 4;
const VERSION_BYTES = 2;

export interface DecodedFrame {
  /** The header's proto_version; readers expose it rather than reject it (docs/protocol.md §3.2). */
  readonly version: number;
  readonly message: Message;
  /** Bytes of `buf` this frame occupied; the next frame starts there. */
  readonly bytesRead: number;
}

/** Encodes one frame. Throws `FrameTooLarge` when it would exceed MAX_FRAME_BYTES, `Codec` for a bad value. */
export function encodeFrame(message: Message, version: number = PROTO_MAX): Buffer {
  if (!Number.isInteger(version) || version < 0 || version > 0xffff) {
    throw new HandoffError('Codec', `frame version must be a u16, got ${version}`);
  }
  const payload = encodeMessage(message);
  const frameLen = VERSION_BYTES + payload.length;
  if (frameLen > MAX_FRAME_BYTES) {
    throw new HandoffError(
      'FrameTooLarge',
      `a ${message.type} frame would be ${frameLen} bytes, over the ${MAX_FRAME_BYTES}-byte cap`,
      { frameLen },
    );
  }
  const frame = Buffer.alloc(LENGTH_BYTES + frameLen);
  frame.writeUInt32LE(frameLen, 0);
  frame.writeUInt16LE(version, LENGTH_BYTES);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * The total size (header included) of the frame starting at `buf[0]`, or null while fewer than 4 bytes are
 * there. Throws `FrameMalformed` (frame_len < 2) or `FrameTooLarge` (frame_len > MAX_FRAME_BYTES).
 */
export function frameSize(buf: Uint8Array): number | null {
  if (buf.length < LENGTH_BYTES) return null;
  const frameLen = (buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24)) >>> 0;
  if (frameLen < VERSION_BYTES) {
    throw new HandoffError('FrameMalformed', `frame_len ${frameLen} is below the 2-byte minimum`, {
      frameLen,
    });
  }
  if (frameLen > MAX_FRAME_BYTES) {
    throw new HandoffError('FrameTooLarge', `frame_len ${frameLen} exceeds the ${MAX_FRAME_BYTES}-byte cap`, {
      frameLen,
    });
  }
  return LENGTH_BYTES + frameLen;
}

/**
 * Decodes the frame at the start of `buf`. Returns null while the frame is incomplete. Throws only
 * `FrameMalformed`, `FrameTooLarge` or `Codec` HandoffErrors.
 */
export function decodeFrame(buf: Uint8Array): DecodedFrame | null {
  const size = frameSize(buf);
  if (size === null || buf.length < size) return null;
  const version = buf[LENGTH_BYTES]! | (buf[LENGTH_BYTES + 1]! << 8);
  const message = decodeMessage(buf.subarray(FRAME_HEADER_BYTES, size));
  return { version, message, bytesRead: size };
}
