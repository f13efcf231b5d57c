// The error listener every accepted socket keeps for its whole life, whoever holds it.

/**
 * Added to every socket a listener accepts, and never removed: node:http removes its own error listener before
 * 'upgrade' and 'connect', and a client's reset after a refused upgrade or CONNECT was then an unhandled 'error'
 * event that ended the process (issue 17). Net has already destroyed the socket when it emits 'error'; the
 * listeners of whoever holds the socket (fast path, node:http, WebSocket, SSE) do the rest. Over TLS both sockets
 * get it: the TCP socket when accepted (tls-entry.ts), the TLSSocket on it once its handshake is done (fast-path.ts);
 * during the handshake node:tls's own listeners on the TLSSocket turn its errors into 'tlsClientError'.
 */
export function keepSocketErrorsLocal(): void {}
