// Every call to the Docker engine with a deadline. An engine that never answers (a hung daemon, a call
// on a frozen container) would otherwise hang whoever waits on it forever, with no output: `npm start`
// did exactly that. Past its deadline a call is aborted (its HTTP request closed) and fails with a
// SandboxEngineError saying which call, on what, and how long it waited. (A few dockerode methods take
// no signal: their request is left to the engine, but the caller is answered at the deadline all the
// same.)
import type Docker from 'dockerode';
import { SandboxEngineError } from '../../shared/errors.js';

/** Seconds each kind of engine call may take. */
export interface EngineTimeouts {
  /** Requests the engine answers at once: inspect, create, start, exec set-up, kill, remove, ping. */
  callSeconds: number;
  /** `docker commit` of a sandbox (its root is read-only, so the layer is small). */
  commitSeconds: number;
  /** Pulling or importing an image, which may be gigabytes. */
  imageSeconds: number;
  /**
   * A file operation run as a command in the sandbox (read, write, copy in or out, hand over the
   * workspace): a frozen container would hold it forever.
   */
  transferSeconds: number;
}

export const DEFAULT_ENGINE_TIMEOUTS: EngineTimeouts = {
  callSeconds: 30,
  commitSeconds: 300,
  imageSeconds: 1800,
  transferSeconds: 300,
};

/**
 * `call` with a deadline: it gets a signal that aborts its request when the deadline passes, and the
 * result is a SandboxEngineError then, whatever the call does with the signal.
 */
export async function engineCall<T>(
  what: string,
  seconds: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(
        new SandboxEngineError(
          `The Docker engine did not answer ${what} within ${seconds} s (a hung engine, or a frozen container: see docker ps, docker info)`,
        ),
      );
    }, seconds * 1000);
  });
  try {
    return await Promise.race([call(controller.signal), deadline]);
  } catch (error) {
    if (error instanceof SandboxEngineError) throw error;
    throw new SandboxEngineError(`Docker engine: ${what} failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** A streamed engine answer (a pull, an import) followed to its end. */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve())),
  );
}

/** The HTTP status of an engine error (404: no such object, 409: conflict or not running). */
export function statusOf(error: unknown): number | undefined {
  const direct = (error as { statusCode?: number }).statusCode;
  return direct ?? (error as { cause?: { statusCode?: number } }).cause?.statusCode;
}
