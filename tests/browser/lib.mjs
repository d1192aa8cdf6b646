// Helpers the browser-side tests share.
import net from 'node:net';

// A port free on 127.0.0.1 right now (the server is started on it next).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
