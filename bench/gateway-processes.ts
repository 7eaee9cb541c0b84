// The server processes of the gateway benches (bench/gateway-servers.ts, one role per process), driven
// over IPC from the bench's client process: started, asked for their own CPU time, and stopped.
import { type ChildProcess, fork } from 'node:child_process';

const SERVERS = new URL('./gateway-servers.ts', import.meta.url).pathname;

export interface Running {
  child: ChildProcess;
  info: Record<string, any>;
}

/** Starts one role of bench/gateway-servers.ts; resolves with what it reports once it listens. */
export function start(role: string, options: object = {}, nodeFlags: string[] = []): Promise<Running> {
  const child = fork(SERVERS, [role, JSON.stringify(options)], {
    execArgv: [...process.execArgv, ...nodeFlags],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code} before it was ready`)));
    child.once('message', (message: { type: string; info: Record<string, any> }) => {
      child.removeAllListeners('exit');
      resolve({ child, info: message.info });
    });
  });
}

/** The process's own CPU time so far (user + system), in microseconds. */
export function cpuOf({ child }: Running): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; info: NodeJS.CpuUsage }) => {
      if (message.type !== 'cpu') return;
      child.off('message', onMessage);
      resolve(message.info.user + message.info.system);
    };
    child.on('message', onMessage);
    child.send({ type: 'cpu' });
  });
}

/** Stops the process; resolves with what it reports on the way out. */
export function stop({ child }: Running): Promise<Record<string, any>> {
  return new Promise((resolve) => {
    child.once('message', (message: { info: Record<string, any> }) => resolve(message.info));
    child.send({ type: 'stop' });
  });
}
