// The shape of an `autovibe doctor` check: named steps, each timed, a failure explained in terms of what
// to fix on the machine. Shared by the Proxmox and the GPU checks so the CLI prints both alike.
export interface DoctorStep {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

/**
 * Runs `work` as the step `name`, records it in `steps` and hands it to `report` at once (a long check
 * shows each step as it ends). A throw fails the step with `explain(error)` as its fix; the answer says
 * whether it passed, so later steps that need it can be skipped.
 */
export function stepRunner(
  steps: DoctorStep[],
  report: (step: DoctorStep) => void,
  explain: (error: unknown) => string | undefined,
) {
  return async (name: string, work: () => Promise<string>): Promise<boolean> => {
    const started = Date.now();
    try {
      const detail = await work();
      steps.push({ name, ok: true, ms: Date.now() - started, detail });
    } catch (error) {
      const fix = explain(error);
      steps.push({
        name,
        ok: false,
        ms: Date.now() - started,
        detail: error instanceof Error ? error.message : String(error),
        ...(fix && { fix }),
      });
    }
    report(steps.at(-1)!);
    return steps.at(-1)!.ok;
  };
}
