/** The admin requests of one classic group: DescribeGroups and DeleteGroups. */
import { groupErrorFields } from '../group.events.ts';
import type { DeleteGroupRequest, DescribeGroupRequest, GroupErrorName } from '../group.events.ts';
import { memberMetadata } from '../groupState.ts';
import type { GroupStateName } from '../groupState.ts';
import { instanceField, sessionTimer } from './step.ts';
import type { StepBuilder } from './step.ts';

/** DescribeGroups: state, protocol and members; metadata and assignments only when Stable, nothing when Dead. */
export function onDescribe(b: StepBuilder, req: DescribeGroupRequest): GroupStateName {
  const group = b.group;
  const stable = b.state === 'Stable';
  b.respond(req, {
    type: 'describeGroup.response',
    correlationId: req.correlationId,
    errorCode: 0,
    groupId: group.groupId,
    state: b.state,
    protocolType: b.state === 'Dead' ? '' : (group.protocolType ?? ''),
    protocolData: stable ? (group.protocolName ?? '') : '',
    members:
      b.state === 'Dead'
        ? []
        : group.members.map((m) => ({
            memberId: m.memberId,
            ...instanceField(m),
            clientId: m.clientId,
            clientHost: m.clientHost,
            metadata: stable ? memberMetadata(m, group.protocolName) : null,
            assignment: stable ? m.assignment : null,
          })),
  });
  return b.state;
}

/** DeleteGroups: only an Empty group is deleted (Dead, with a tombstone record); else NON_EMPTY_GROUP or GROUP_ID_NOT_FOUND. */
export function onDelete(b: StepBuilder, req: DeleteGroupRequest): GroupStateName {
  const error: GroupErrorName | null = b.state === 'Dead' ? 'GROUP_ID_NOT_FOUND' : b.state === 'Empty' ? null : 'NON_EMPTY_GROUP';
  let next: GroupStateName = b.state;
  if (error === null) {
    for (const id of b.group.pendingMembers) b.cancel(sessionTimer(id));
    b.group = { ...b.group, pendingMembers: [] };
    b.persist(false, true);
    b.emit({ type: '@samsa.group.deleted', groupId: b.group.groupId });
    next = 'Dead';
  }
  b.respond(req, { type: 'group.deleteResponse', correlationId: req.correlationId, ...groupErrorFields(error), groupId: b.group.groupId });
  return next;
}
