// The supervisor's journal file (docs/protocol.md §5.1): the last acknowledged step of a handoff in flight, written
// atomically so a supervisor that crashed mid-handoff can report it at its next start.

import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { ioError, isHandoffError } from '../errors.js';
import { decodeJournal, encodeJournal, type StateJournal } from '../protocol/journal.js';

/** Writes `journal` to `path` atomically (tmp file, fsync, rename, fsync dir). */
export async function writeJournal(path: string, journal: StateJournal): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, encodeJournal(journal), 0o600);
  } catch (error) {
    throw isHandoffError(error) ? error : ioError(`cannot write handoff journal ${path}`, error, { path });
  }
}

/** The journal at `path`, or undefined when there is none. Throws `Codec` for a corrupt file. */
export async function readJournal(path: string): Promise<StateJournal | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`cannot read handoff journal ${path}`, error, { path });
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
