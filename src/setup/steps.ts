/** done: made or changed; present: already there; ok: a check passed. */
export type StepStatus = 'done' | 'present' | 'ok' | 'warning' | 'failed' | 'skipped';

export interface SetupStep {
  readonly step: string;
  readonly status: StepStatus;
  readonly detail?: string | undefined;
  readonly fix?: string;
}
