// Just enough of RFC 6455 for egress tests to speak WebSocket on a raw socket, with the Host header
// and request target they choose (a library client would not send a lying Host): the handshake's
// accept key, and single-frame text/close messages, masked as a client must, unmasked as a server does.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface Frame {
  opcode: number;
  payload: Buffer;
}

export function upgradeRequest(host: string, target = '/'): string {
  return [
    `GET ${target} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    'Authorization: Bearer ws-secret-token',
    '',
    '',
  ].join('\r\n');
}

/** A server's side of the handshake, then `onFrame` for each frame the client sends. */
export function acceptUpgrade(req: IncomingMessage, socket: Duplex, onFrame: (frame: Frame) => void): void {
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  readFrames(socket, onFrame);
}

export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length =
    payload.length < 126
      ? Buffer.from([payload.length | (masked ? 0x80 : 0)])
      : Buffer.from([126 | (masked ? 0x80 : 0), payload.length >> 8, payload.length & 0xff]);
  if (payload.length > 0xffff) throw new Error('test frames stay under 64 KiB');
  if (!masked) return Buffer.concat([Buffer.from([0x80 | opcode]), length, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x80 | opcode]), length, mask, body]);
}

/** Calls `onFrame` for each complete frame read from `socket` (after any bytes already consumed). */
export function readFrames(socket: Duplex, onFrame: (frame: Frame) => void, initial = Buffer.alloc(0)): void {
  let buffered = initial;
  const drain = () => {
    for (;;) {
      const frame = decodeFrame(buffered);
      if (!frame) return;
      buffered = buffered.subarray(frame.used);
      onFrame(frame);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    drain();
  });
  drain();
}

function decodeFrame(data: Buffer): (Frame & { used: number }) | null {
  if (data.length < 2) return null;
  const opcode = (data[0] ?? 0) & 0x0f;
  const masked = ((data[1] ?? 0) & 0x80) !== 0;
  let length = (data[1] ?? 0) & 0x7f;
  let at = 2;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(data.readBigUInt64BE(2));
    at = 10;
  }
  const mask = masked ? data.subarray(at, at + 4) : null;
  if (masked) at += 4;
  if (data.length < at + length) return null;
  const raw = data.subarray(at, at + length);
  const payload = mask ? Buffer.from(raw.map((byte, i) => byte ^ (mask[i % 4] ?? 0))) : Buffer.from(raw);
  return { opcode, payload, used: at + length };
}
