// The environment and fd layout a supervisor gives each instance it spawns (docs/protocol.md §2.1), in one place for
// both the supervisor that writes it and the daemon that reads it.

/** The variables of docs/protocol.md §2.1. */
export const RoleEnv = Object.freeze({
  /** Count n of inherited listening fds, at fds 3 … 3+n-1 (systemd convention). */
  LISTEN_FDS: 'LISTEN_FDS',
  /** Colon-separated names in fd order; a missing name falls back to the decimal index. */
  LISTEN_FDNAMES: 'LISTEN_FDNAMES',
  /** Exactly `successor` for a successor; anything else is a cold start. */
  HANDOFF_ROLE: 'HANDOFF_ROLE',
  /** Successor only: the fd of the control channel to the supervisor, always 3+n. */
  HANDOFF_SOCK_FD: 'HANDOFF_SOCK_FD',
} as const);

/** The value of HANDOFF_ROLE that makes an instance a successor. */
export const SUCCESSOR_ROLE = 'successor';

/** The first inherited listener's fd (systemd's SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;
