// The supervisor's journal file (docs/protocol.md §5.1): the last acknowledged step of a handoff in flight, written
// atomically so a supervisor that crashed mid-handoff can report it at its next start.

import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readBoundedFile, UnsafeFileError, writeFileAtomic } from '../atomic-file.js';
import { ioError, isHandoffError } from '../errors.js';
import { decodeJournal, encodeJournal, type StateJournal } from '../protocol/journal.js';

/** A journal is a few dozen bytes; a file much larger is not one of ours and is not read. */
const JOURNAL_MAX_BYTES = 4096;

/** Writes `journal` to `path` atomically (tmp file, fsync, rename, fsync dir). */
export async function writeJournal(path: string, journal: StateJournal): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, encodeJournal(journal), 0o600);
  } catch (error) {
    throw isHandoffError(error) ? error : ioError(`cannot write handoff journal ${path}`, error, { path });
  }
}

/** The journal at `path`, or undefined when there is none. Throws `Codec` for a corrupt file. */
export async function readJournal(path: string): Promise<StateJournal | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readBoundedFile(path, JOURNAL_MAX_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const hint = error instanceof UnsafeFileError ? ' (not a journal of ours: move it away)' : '';
    throw ioError(`cannot read handoff journal ${path}${hint}`, error, { path });
  }
  return decodeJournal(bytes);
}

/** Deletes the journal; a missing file is fine. */
export async function deleteJournal(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (error) {
    throw ioError(`cannot delete handoff journal ${path}`, error, { path });
  }
}
