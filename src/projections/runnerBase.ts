/**
 * What every projection runner has the same way: its observables, and its status with the error
 * it failed with. `status$` completes after 'failed' or 'stopped' and never errors: a subscriber
 * without an error callback would turn an error notification into an uncaught exception.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import type { TopicPartitionOffset } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import type { Projection } from './projection.ts';
import type { ProjectionErrorEvent, ProjectionStatus } from './runner.ts';

/** The shared half of the SQL and store runners. */
export abstract class RunnerBase<P extends Projection<unknown, RecordedEvent>> {
  readonly status$ = new BehaviorSubject<ProjectionStatus>('starting');
  readonly positions$ = new BehaviorSubject<readonly TopicPartitionOffset[]>([]);
  readonly lag$ = new BehaviorSubject<bigint>(-1n);
  readonly errors$ = new Subject<ProjectionErrorEvent>();
  /** Why it failed (a ProjectionError), once its status is 'failed'. */
  error: unknown;
  private currentStatus: ProjectionStatus = 'starting';

  constructor(readonly projection: P) {}

  get name(): string {
    return this.projection.name;
  }
  get version(): number {
    return this.projection.version;
  }
  get status(): ProjectionStatus {
    return this.currentStatus;
  }

  protected setStatus(status: ProjectionStatus, error?: unknown): void {
    this.currentStatus = status;
    if (error !== undefined) this.error = error;
    this.status$.next(status);
    if (status === 'failed' || status === 'stopped') this.status$.complete();
  }
}
