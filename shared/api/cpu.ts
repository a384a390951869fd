/** GET /api/cpu: the lab process's CPU time so far (process.cpuUsage), for "CPU per I/O" = delta over a batch of I/Os. */
export interface CpuSample {
  /** User and system CPU time of the process (target, gateway, its initiator, trace), microseconds. */
  readonly userUs: number;
  readonly systemUs: number;
}
