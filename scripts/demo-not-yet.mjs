// Placeholder for `npm run demo` until the CLI/demo issue lands: says so plainly and fails.
console.error(
  'handoff demo: not built yet. The wire protocol (src/protocol, src/wire.ts) works and is tested (`npm test`);\n' +
    'the supervisor, the example KV daemon and this demo land with the CLI/demo issue.',
);
process.exit(1);
