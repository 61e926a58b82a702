// Child of test/helpers/dup-fd.ts. `listen`: open a listening socket on 127.0.0.1 and send it to the parent.
// `dup`: send back the fd the parent placed at 4. Either way the parent receives a new fd (SCM_RIGHTS).
import net from 'node:net';

function sendAndExit(message, handle, after = () => {}) {
  process.send(message, handle, {}, (error) => {
    after();
    if (error) throw error;
    process.disconnect();
  });
}

if (process.argv[2] === 'listen') {
  const server = net.createServer();
  // Nobody knows the port before the parent gets it, so this server never accepts a connection.
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    sendAndExit({ port: server.address().port }, server._handle, () => server.close());
  });
} else {
  // readable: false, so nothing reads from (or accepts on) the listening fd here.
  const socket = new net.Socket({ fd: 4, readable: false, writable: false });
  sendAndExit({}, socket._handle);
}
