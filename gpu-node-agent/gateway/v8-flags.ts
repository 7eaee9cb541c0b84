// The one process-wide setting the gateway makes, and why it makes it.
import { setFlagsFromString } from 'node:v8';

/**
 * Turns off V8's allocation-site pretenuring for this process. After a burst with hundreds of calls in
 * flight, V8 sees request objects (sockets' messages, parsers' results, the gateway's own) survive and
 * starts allocating them straight into the old generation. Every call's garbage then points from old
 * space into new space, so each minor GC traces it: in bench/gateway.ts scavenges took 5.7 ms instead
 * of 2 ms and promoted 4× as much, about a millisecond of the gateway's p99 (bench/RESULTS.md). Nothing
 * a gateway allocates per call outlives the call, so the heuristic only ever guesses wrong here.
 * Process-wide: the gateway shares its process with the node agent, whose other work is not
 * allocation-bound.
 */
export function keepCallGarbageYoung(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
