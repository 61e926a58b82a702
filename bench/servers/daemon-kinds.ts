// The server kinds of bench/servers/daemon.ts, apart from it (importing the daemon would start one).

export const SERVER_KINDS = ['https', 'h2', 'h2c', 'ws', 'tcp'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
