// Shared by the GPU tests: where the stand-ins are, and a logger that keeps what it was told.
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/logger.js';

export const NVIDIA_SMI_STAND_IN = fileURLToPath(new URL('../stand-ins/nvidia-smi', import.meta.url));
export const VLLM_STAND_IN = fileURLToPath(new URL('../stand-ins/vllm', import.meta.url));

export interface LogLine {
  level: string;
  event: string;
  data?: Record<string, unknown>;
}

export function keepingLogger(lines: LogLine[]): Logger {
  const keep =
    (level: string) =>
    (event: string, data?: Record<string, unknown>): void => {
      lines.push({ level, event, data });
    };
  const logger: Logger = {
    debug: keep('debug'),
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
    with: () => logger,
  };
  return logger;
}
