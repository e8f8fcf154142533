/**
 * The group's ruling on an offset commit: the coordinator asks the group whether a member of a
 * generation may commit now, and stores the offsets itself.
 */
import type { OffsetCommitValidateRequest } from '../group.events.ts';
import { validateOffsetCommit } from '../groupState.ts';
import type { GroupStateName } from '../groupState.ts';
import { respondSimple } from './step.ts';
import type { StepBuilder } from './step.ts';

/** Rules on an OffsetCommit or TxnOffsetCommit of this group (Kafka's `validateOffsetCommit`); the host stores the offsets. */
export function onOffsetCommitValidate(b: StepBuilder, req: OffsetCommitValidateRequest): GroupStateName {
  respondSimple(b, req, 'offsetCommit.validateResponse', validateOffsetCommit(b.group, b.state, req));
  return b.state;
}
