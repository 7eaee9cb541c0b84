// Commands in a Proxmox VM with their output streamed while they run. The guest agent's guest-exec hands
// output over only when the process ends, so a root wrapper started with agent/exec runs the command in
// its own session with stdout and stderr going through FIFOs into spool files in a per-exec directory,
// and the node reads the new bytes of those files with one small agent/exec per poll (dd from the offset
// it has reached): often while output flows, less and less often while it does not. Each stream is
// spooled in segments of SEGMENT bytes so the guest keeps only what the node can still use (its /tmp is
// RAM): the segments of the head the node keeps, and a window of the latest segments at least the size
// of the tail it keeps; a command that prints without end (`yes`) costs the guest that much, not all of
// it. Each poll also drops the segments the node has read. The FIFOs end when
// the last process holding them closes them, so a command is done when everything it started has let go
// of its output, as with a pipe. Its processes carry a marker in their environment, so a timeout or an
// abort kills all of them, those that left its session (setsid, double fork) too.
import { randomBytes } from 'node:crypto';
import { ProxmoxError } from '../../../shared/errors.js';
import { CappedOutput } from '../capped-output.js';
import type { ExecOptions, ExecResult, SandboxUser } from '../sandbox.js';
import { shellQuote } from '../sandbox.js';
import { FILE_WRITE_CAP, type PveClient } from './pve-client.js';

/** The unprivileged user commands run as inside the VM (made on first use if the template lacks it). */
export const GUEST_USER = 'autovibe';
/** The environment variable every process of one exec inherits, so a kill finds them all. */
export const EXEC_MARKER = 'AUTOVIBE_EXEC_ID';
/** Bytes of each stream one poll brings back at most (the agent's own capture cap is 16 MiB). */
export const POLL_CHUNK = 1024 * 1024;
/** The spool's segment: one poll reads from one segment, so a whole poll's worth. */
export const SEGMENT = POLL_CHUNK;
const POLL_MIN_MS = 100;
/** Output a finished wrapper hands back itself (the agent keeps it in memory until it is read). */
const WRAPPER_OUTPUT_MAX = 64 * 1024;
const POLL_MAX_MS = 2000;
/** How long a killed command has to let go of its output before its pumps are killed too. */
const KILL_GRACE_MS = 5000;
/** How long polls may fail in a row (the API or the agent briefly away) before the exec gives up. */
const POLL_FAILURES_MS = 30_000;

export type GuestAgent = Pick<PveClient, 'agentExec' | 'agentExecStatus' | 'agentFileWrite'>;

export interface GuestExecStatus {
  exited?: number | boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: number | boolean;
  'err-truncated'?: number | boolean;
}

/** Runs argv through agent/exec and waits for it: for short helper commands whose output is small. */
export async function execAndWait(
  agent: GuestAgent,
  vmid: number,
  argv: string[],
  input?: string,
): Promise<GuestExecStatus> {
  return waitExited(agent, vmid, await agent.agentExec(vmid, argv, input));
}

/** Polls agent/exec-status until the process (and its output) is done; 25 ms, doubling to 500 ms. */
export async function waitExited(
  agent: GuestAgent,
  vmid: number,
  pid: number,
  deadlineMs = Number.POSITIVE_INFINITY,
): Promise<GuestExecStatus> {
  let delay = 25;
  const until = Date.now() + deadlineMs;
  for (;;) {
    const status = (await agent.agentExecStatus(vmid, pid)) as GuestExecStatus;
    if (status.exited) return status;
    if (Date.now() > until)
      throw new ProxmoxError(
        'other',
        `VM ${vmid}: guest process ${pid} still running after ${deadlineMs} ms`,
      );
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
}

/**
 * Writes `content` into the guest as numbered part files `<prefix>.000000`, ... (base64 under PVE's
 * 61440-character cap, so bytes arrive exactly); returns their paths in order.
 */
export async function writeParts(
  agent: GuestAgent,
  vmid: number,
  prefix: string,
  content: Buffer | string,
): Promise<string[]> {
  const encoded = Buffer.from(content).toString('base64');
  const names: string[] = [];
  for (let at = 0; at === 0 || at < encoded.length; at += FILE_WRITE_CAP) {
    const name = `${prefix}.${String(names.length).padStart(6, '0')}`;
    await agent.agentFileWrite(vmid, name, encoded.slice(at, at + FILE_WRITE_CAP));
    names.push(name);
  }
  return names;
}

/** The command line of `script` as `user`: a root shell, or su to the unprivileged user. */
export function shellAs(user: SandboxUser, script: string): string[] {
  return user === 'root' ? ['sh', '-c', script] : ['su', '-s', '/bin/sh', GUEST_USER, '-c', script];
}

/**
 * Runs `script` (already carrying its env and cwd) in the guest, streaming its output to onOutput as it
 * is written, with the limits, stdin, timeout and abort of `options`.
 */
export async function streamingExec(
  agent: GuestAgent,
  vmid: number,
  user: SandboxUser,
  script: string,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const started = Date.now();
  const id = randomBytes(6).toString('hex');
  const dir = `/tmp/.autovibe-exec-${id}`;
  // stdin as a file written through file-write: bytes exactly, and no 64 KiB cap of input-data.
  const stdinParts =
    options.stdin === undefined ? [] : await writeParts(agent, vmid, `${dir}.in`, options.stdin);
  const streams = {
    stdout: { offset: 0, capped: new CappedOutput(options.outputLimitBytes) },
    stderr: { offset: 0, capped: new CappedOutput(options.outputLimitBytes) },
  };
  const { headLimit, tailLimit } = streams.stdout.capped;
  const spool = spoolWindow(headLimit, tailLimit);
  const wrapperPid = await agent.agentExec(vmid, [
    'sh',
    '-c',
    wrapper(dir, id, user, script, stdinParts, spool),
  ]);

  let killedAt: number | null = null;
  let killing: Promise<void> = Promise.resolve();
  const kill = () => {
    if (killedAt !== null) return;
    killedAt = Date.now();
    killing = killTree(agent, vmid, dir, id);
  };
  const timer =
    options.timeoutSeconds !== undefined ? setTimeout(kill, options.timeoutSeconds * 1000) : undefined;
  options.signal?.addEventListener('abort', kill, { once: true });
  if (options.signal?.aborted) kill();

  let wait = POLL_MIN_MS;
  let failingSince: number | null = null;
  let forced = false;
  let status = 'running';
  // A short command is over before the first poll: the wrapper's own answer then carries its output
  // (when small), and one exec plus a few status reads make the whole round trip.
  let wrapped = await exitedSoon(agent, vmid, wrapperPid);
  const early = wrapped && parseFramed(wrapped);
  if (wrapped && early?.state !== 'running') {
    for (const name of ['stdout', 'stderr'] as const) {
      const bytes = early?.[name] ?? Buffer.alloc(0);
      streams[name].capped.push(bytes);
      if (bytes.length > 0) options.onOutput?.(bytes, name);
    }
    status = early?.state ?? 'gone';
    void execAndWait(agent, vmid, ['sh', '-c', `rm -rf ${shellQuote(dir)}`]).catch(() => undefined);
  }
  try {
    while (status === 'running') {
      let poll: PollResult;
      try {
        poll = await pollOnce(agent, vmid, dir, wrapperPid, streams.stdout.offset, streams.stderr.offset);
        failingSince = null;
      } catch (error) {
        failingSince ??= Date.now();
        if (Date.now() - failingSince > POLL_FAILURES_MS) throw error;
        await sleep(1000);
        continue;
      }
      for (const name of ['stdout', 'stderr'] as const) {
        const stream = streams[name];
        const bytes = poll[name];
        const skip = (skipped: number) => {
          stream.capped.skip(skipped);
          stream.offset += skipped;
          options.onOutput?.(Buffer.from(`\n[... ${skipped} bytes omitted ...]\n`), name);
        };
        if (bytes.length > 0) {
          stream.capped.push(bytes);
          stream.offset += bytes.length;
          options.onOutput?.(bytes, name);
        }
        // The guest already dropped the segment the node was at (it kept only its window of the
        // latest): what was in it lies between the head and the tail, so the read goes on from the
        // oldest segment the guest still has.
        const next = name === 'stdout' ? poll.outNext : poll.errNext;
        if (next > stream.offset) skip(next - stream.offset);
        // Fallen behind a command that writes faster than polls read: what lies between the head
        // already kept and the tail still to come would be dropped anyway, so it is not fetched.
        const size = name === 'stdout' ? poll.outSize : poll.errSize;
        const keep = stream.capped.tailLimit;
        if (stream.capped.headFull && size - stream.offset > keep + POLL_CHUNK) {
          skip(size - keep - stream.offset);
        }
      }
      const behind = poll.outSize > streams.stdout.offset || poll.errSize > streams.stderr.offset;
      if (poll.state !== 'running' && !behind) {
        status = poll.state;
        break;
      }
      if (killedAt !== null && !forced && Date.now() - killedAt > KILL_GRACE_MS) {
        // A process that escaped the kill (it cleared its environment) still holds the output: stop
        // waiting for it by killing the pumps and the wrapper themselves.
        forced = true;
        await killing;
        await execAndWait(agent, vmid, ['sh', '-c', forceKill(dir, wrapperPid)]).catch(() => undefined);
      }
      const flowing = poll.stdout.length > 0 || poll.stderr.length > 0;
      wait = behind ? 0 : flowing ? POLL_MIN_MS : Math.min(wait * 2, POLL_MAX_MS);
      if (killedAt !== null) wait = Math.min(wait, 500);
      if (wait > 0) await sleep(wait);
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', kill);
  }
  await killing;
  // The wrapper's own status; the agent forgets a process only once its end has been read.
  wrapped ??= await waitExited(agent, vmid, wrapperPid, 30_000);
  const killed = killedAt !== null;
  if (status === 'gone' && !killed) {
    // The wrapper ended without noting the command's status: it could not start it.
    const why = Buffer.from(wrapped['err-data'] ?? '', 'latin1')
      .toString()
      .trim();
    throw new ProxmoxError(
      'other',
      `VM ${vmid}: the exec wrapper failed (${wrapped.exitcode ?? `signal ${wrapped.signal}`}): ${why}`,
    );
  }
  return {
    exitCode: killed ? null : Number(status),
    stdout: streams.stdout.capped.toBuffer(),
    stderr: streams.stderr.capped.toBuffer(),
    timedOut: killed && !options.signal?.aborted,
    truncated: streams.stdout.capped.truncated || streams.stderr.capped.truncated,
    durationMs: Date.now() - started,
  };
}

interface PollResult {
  /** 'running', the command's exit status, or 'gone' (the wrapper ended without one). */
  state: string;
  outSize: number;
  errSize: number;
  /** Where the node's read of each stream goes on when its segment is gone; else where it was. */
  outNext: number;
  errNext: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** How many segments of a stream the guest keeps: those of the head, and the latest `window`. */
export interface SpoolWindow {
  head: number;
  window: number;
}

/**
 * The segments that hold a head of `head` bytes, and a window of the latest segments that still holds
 * `tail` whole bytes when the newest segment has only just begun: the guest keeps at most
 * (head + window) segments of each stream, whatever the command prints.
 */
export function spoolWindow(head: number, tail: number): SpoolWindow {
  return { head: Math.ceil(head / SEGMENT), window: Math.ceil(tail / SEGMENT) + 1 };
}

/**
 * One poll: whether the command is done (checked before the sizes, so a done command's files are
 * complete), the spool files' sizes, and up to POLL_CHUNK new bytes of each. The spool directory goes
 * with the poll that reads the last of a done command.
 */
async function pollOnce(
  agent: GuestAgent,
  vmid: number,
  dir: string,
  wrapperPid: number,
  outOffset: number,
  errOffset: number,
): Promise<PollResult> {
  const d = shellQuote(dir);
  // Per stream: the segments there are (dropping those wholly read), the stream's size, and the bytes
  // from the offset to the end of its segment (at most a poll's worth). The segment is read through a
  // hard link, so the pump dropping it meanwhile leaves the bytes; when it is already gone, `t` says
  // where the next segment the guest still has begins.
  const measure = (file: string, v: string, offset: number) => {
    const k = Math.floor(offset / SEGMENT);
    return [
      `m=-1; x=-1; for f in ${d}/${file}.*; do [ -e "$f" ] || continue; i=\${f##*.}`,
      `  [ $i -gt $m ] && m=$i; [ $i -gt ${k} ] && { [ $x -lt 0 ] || [ $i -lt $x ]; } && x=$i`,
      `  [ $i -lt ${k} ] && rm -f "$f"`,
      'done',
      `s${v}=0; [ $m -ge 0 ] && s${v}=$((m * ${SEGMENT} + $(stat -c %s ${d}/${file}.$m 2>/dev/null || echo 0)))`,
      `n${v}=0; t${v}=${offset}`,
      `if ln -f ${d}/${file}.${k} ${d}/.r${v} 2>/dev/null; then`,
      `  n${v}=$((s${v} - ${offset})); [ $n${v} -gt ${(k + 1) * SEGMENT - offset} ] && n${v}=${(k + 1) * SEGMENT - offset}; [ $n${v} -lt 0 ] && n${v}=0`,
      `elif [ $x -ge 0 ]; then t${v}=$((x * ${SEGMENT})); fi`,
    ];
  };
  const read = (v: string, offset: number) =>
    `[ $n${v} -gt 0 ] && dd if=${d}/.r${v} bs=65536 iflag=skip_bytes,count_bytes skip=${offset % SEGMENT} count=$n${v} 2>/dev/null`;
  const script = [
    `if [ -e ${d}/status ]; then s=$(cat ${d}/status); elif kill -0 ${wrapperPid} 2>/dev/null; then s=running; else s=gone; fi`,
    ...measure('out', 'o', outOffset),
    ...measure('err', 'e', errOffset),
    'echo "$s $so $se $no $ne $to $te"',
    read('o', outOffset),
    read('e', errOffset),
    `rm -f ${d}/.ro ${d}/.re`,
    `[ "$s" != running ] && [ $((${outOffset} + no)) -ge $so ] && [ $((${errOffset} + ne)) -ge $se ] && rm -rf ${d}`,
    'exit 0',
  ].join('\n');
  const result = await execAndWait(agent, vmid, ['sh', '-c', script]);
  const framed = parseFramed(result);
  if (!framed) {
    throw new ProxmoxError(
      'other',
      `VM ${vmid}: reading the output of an exec failed: ${Buffer.from(result['err-data'] ?? '', 'latin1')
        .toString()
        .trim()}`,
    );
  }
  return framed;
}

/**
 * Output framed as the poll and the wrapper write it: `<state> <out size> <err size> <out n> <err n>
 * <out next> <err next>` on a line, then n bytes of stdout and of stderr; null when it is not that.
 */
function parseFramed(result: GuestExecStatus): PollResult | null {
  const out = Buffer.from(result['out-data'] ?? '', 'latin1');
  const newline = out.indexOf(10);
  const header = /^(\S+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(
    out.subarray(0, Math.max(newline, 0)).toString(),
  );
  if (newline < 0 || !header || result['out-truncated']) return null;
  const [state, outSize, errSize, outCount, errCount, outNext, errNext] = [
    header[1] as string,
    ...header.slice(2).map(Number),
  ] as [string, number, number, number, number, number, number];
  const body = out.subarray(newline + 1);
  if (body.length !== outCount + errCount) return null;
  return {
    // The status file holds the command's exit status; `running` from the wrapper means "poll for it";
    // anything else means the wrapper died first.
    state: state === 'running' || /^\d+$/.test(state) ? state : 'gone',
    outSize,
    errSize,
    outNext,
    errNext,
    stdout: body.subarray(0, outCount),
    stderr: body.subarray(outCount),
  };
}

/** The wrapper's end if it comes within the first few hundred milliseconds, else null. */
async function exitedSoon(agent: GuestAgent, vmid: number, pid: number): Promise<GuestExecStatus | null> {
  for (const delay of [25, 50, 100, 200]) {
    await sleep(delay);
    const status = (await agent.agentExecStatus(vmid, pid).catch(() => null)) as GuestExecStatus | null;
    if (status?.exited) return status;
  }
  return null;
}

/**
 * The root wrapper: the spool directory (root only), one pump per stream from its FIFO into its
 * segments, the command in a new session with the exec's marker in its environment, then its status
 * once the pumps have drained everything (the file `status` appears last and whole).
 */
function wrapper(
  dir: string,
  id: string,
  user: SandboxUser,
  script: string,
  stdinParts: string[],
  spool: SpoolWindow,
): string {
  const d = shellQuote(dir);
  const stdin = stdinParts.length > 0 ? `${d}/in` : '/dev/null';
  const command = ['env', `${EXEC_MARKER}=${id}`, ...shellAs(user, script)].map(shellQuote).join(' ');
  return [
    `mkdir -m 700 ${d} && mkfifo ${d}/o ${d}/e && : > ${d}/out.0 && : > ${d}/err.0 || exit 125`,
    ...(stdinParts.length > 0
      ? [`cat ${stdinParts.join(' ')} > ${d}/in && rm -f ${stdinParts.join(' ')} || exit 125`]
      : []),
    // A pump fills segment after segment, writing each read as it comes (streaming) and stopping at the
    // segment's size exactly (count_bytes) (a short one is the stream's end; one already gone was read
    // whole by the node, so it was full); starting segment i, it drops segment i - window unless that
    // holds part of the head.
    'pump() { i=0',
    `  while dd of="$1.$i" bs=65536 count=${SEGMENT} iflag=count_bytes 2>/dev/null && [ "$(stat -c %s "$1.$i" 2>/dev/null || echo ${SEGMENT})" -eq ${SEGMENT} ]; do`,
    `    i=$((i + 1)); [ $((i - ${spool.window})) -ge ${spool.head} ] && rm -f "$1.$((i - ${spool.window}))"`,
    '  done; }',
    `pump ${d}/out < ${d}/o & p1=$!`,
    `pump ${d}/err < ${d}/e & p2=$!`,
    `echo "$p1 $p2" > ${d}/pumps`,
    // The session leader notes its pid (its process group) before it becomes the command.
    `setsid sh -c 'echo $$ > "$0/pid"; exec "$@"' ${d} ${command} < ${stdin} > ${d}/o 2> ${d}/e`,
    'st=$?',
    'wait $p1 $p2',
    `echo $st > ${d}/status.new && mv ${d}/status.new ${d}/status`,
    // All of a small output in the wrapper's own answer (read when the command was short), framed as
    // a poll frames it; otherwise `running`: the node reads it with polls.
    `so=$(stat -c %s ${d}/out.0); se=$(stat -c %s ${d}/err.0)`,
    `if [ ! -e ${d}/out.1 ] && [ ! -e ${d}/err.1 ] && [ $((so + se)) -le ${WRAPPER_OUTPUT_MAX} ]; then echo "$st $so $se $so $se 0 0"; cat ${d}/out.0 ${d}/err.0; else echo "running 0 0 0 0 0 0"; fi`,
    'exit $st',
  ].join('\n');
}

/**
 * Kills the command's session, every process whose environment carries the exec's marker, and every
 * process holding the exec's output open for writing (one that cleared its environment and left the
 * session still blocks the end of the exec): three passes, for processes forked while one ran. Sent
 * once; the poll loop notices the end.
 */
async function killTree(agent: GuestAgent, vmid: number, dir: string, id: string): Promise<void> {
  const d = shellQuote(dir);
  const writers = `ls -l /proc/[0-9]*/fd 2>/dev/null | awk -v o=${d}/o -v e=${d}/e '/^\\/proc\\/[0-9]+\\/fd:$/ { split($0, p, "/"); pid = p[3] } $1 ~ /w/ && ($NF == o || $NF == e) { print pid }'`;
  const script = [
    `p=$(cat ${d}/pid 2>/dev/null); [ -n "$p" ] && kill -9 "-$p" 2>/dev/null`,
    'for pass in 1 2 3; do',
    `  for f in $(grep -lzxsF ${EXEC_MARKER}=${id} /proc/[0-9]*/environ); do f=\${f#/proc/}; kill -9 "\${f%/environ}" 2>/dev/null; done`,
    `  for p in $(${writers}); do kill -9 "$p" 2>/dev/null; done`,
    'done',
    'exit 0',
  ].join('\n');
  await execAndWait(agent, vmid, ['sh', '-c', script]).catch(() => undefined);
}

/** The pumps and the wrapper themselves, when something outside the marker still holds the output. */
function forceKill(dir: string, wrapperPid: number): string {
  const d = shellQuote(dir);
  return `kill -9 $(cat ${d}/pumps 2>/dev/null) ${wrapperPid} 2>/dev/null; rm -rf ${d}; exit 0`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
