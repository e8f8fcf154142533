import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../../src/errors.ts';
import {
  decodeGroupMetadataValue,
  decodeOffsetKey,
  decodeOffsetsTopicKey,
  decodeProtocolData,
  encodeGroupMetadataKey,
  encodeGroupMetadataValue,
  encodeOffsetKey,
  encodeProtocolData,
} from '../../../src/actors/groupCoordinator/offsetsTopic.ts';
import type { GroupMetadata } from '../../../src/actors/groupCoordinator/groupMetadata.ts';

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const ascii = (s: string): string => hex(new TextEncoder().encode(s));

const STABLE: GroupMetadata = {
  groupId: 'orders-app',
  protocolType: 'consumer',
  generation: 7,
  protocol: 'range',
  leader: 'a-1',
  members: [
    {
      memberId: 'a-1',
      groupInstanceId: null,
      clientId: 'a',
      clientHost: '/10.0.0.1',
      rebalanceTimeout: 300_000,
      sessionTimeout: 45_000,
      subscription: { topics: ['orders', 'payments'], ownedPartitions: [], generationId: 6 },
      assignment: [{ topic: 'orders', partition: 0 }],
    },
    {
      memberId: 'static-b-2',
      groupInstanceId: 'static-b',
      clientId: 'b',
      clientHost: '',
      rebalanceTimeout: 60_000,
      sessionTimeout: 10_000,
      subscription: { topics: ['orders'], big: 12345678901234567890n, raw: new Uint8Array([0, 1, 254, 255]), text: 'ünïcødé ✓' },
      assignment: null,
    },
  ],
};

describe('__consumer_offsets group metadata key (version 2)', () => {
  it('is int16 version 2 then the group as an int16-length string', () => {
    expect(hex(encodeGroupMetadataKey('g1'))).toBe(`00 02 00 02 ${ascii('g1')}`);
  });

  it('is told apart from offset keys; decodeOffsetKey still ignores it', () => {
    const groupKey = encodeGroupMetadataKey('orders-app');
    const offsetKey = encodeOffsetKey({ group: 'orders-app', topic: 'orders', partition: 3 });
    expect(decodeOffsetsTopicKey(groupKey)).toEqual({ kind: 'group', group: 'orders-app' });
    expect(decodeOffsetsTopicKey(offsetKey)).toEqual({ kind: 'offset', group: 'orders-app', topic: 'orders', partition: 3 });
    expect(decodeOffsetKey(groupKey)).toBeUndefined();
    // Kafka's KIP-848 record keys (versions 3+) are neither.
    expect(decodeOffsetsTopicKey(new Uint8Array([0, 3, 0, 1, 0x67]))).toBeUndefined();
  });
});

describe('__consumer_offsets group metadata value (GroupMetadataValue v3)', () => {
  it('writes Kafka’s v3 layout', () => {
    const empty: GroupMetadata = { groupId: 'g', protocolType: 'consumer', generation: 5, protocol: null, leader: null, members: [] };
    expect(hex(encodeGroupMetadataValue(empty, 1000))).toBe(
      [
        '00 03', // version
        `00 08 ${ascii('consumer')}`, // protocolType
        '00 00 00 05', // generation
        'ff ff', // protocol: null
        'ff ff', // leader: null
        '00 00 00 00 00 00 03 e8', // currentStateTimestamp
        '00 00 00 00', // members: none
      ].join(' '),
    );
    const one: GroupMetadata = {
      groupId: 'g',
      protocolType: 'consumer',
      generation: 1,
      protocol: 'range',
      leader: 'm',
      members: [{ memberId: 'm', groupInstanceId: 'i', clientId: 'c', clientHost: 'h', rebalanceTimeout: 2, sessionTimeout: 3, subscription: 1, assignment: [0] }],
    };
    expect(hex(encodeGroupMetadataValue(one, 0))).toBe(
      [
        '00 03',
        `00 08 ${ascii('consumer')}`,
        '00 00 00 01',
        `00 05 ${ascii('range')}`,
        `00 01 ${ascii('m')}`,
        '00 00 00 00 00 00 00 00',
        '00 00 00 01', // one member
        `00 01 ${ascii('m')}`, // memberId
        `00 01 ${ascii('i')}`, // groupInstanceId
        `00 01 ${ascii('c')}`, // clientId
        `00 01 ${ascii('h')}`, // clientHost
        '00 00 00 02', // rebalanceTimeout
        '00 00 00 03', // sessionTimeout
        `00 00 00 01 ${ascii('1')}`, // subscription: JSON
        `00 00 00 03 ${ascii('[0]')}`, // assignment: JSON
      ].join(' '),
    );
  });

  it('round-trips members, static ids, bigint and byte data, and the state timestamp', () => {
    const bytes = encodeGroupMetadataValue(STABLE, 1_700_000_123_456);
    expect(decodeGroupMetadataValue(bytes, 'orders-app')).toEqual({ ...STABLE, currentStateTimestamp: 1_700_000_123_456 });
  });

  it('round-trips an Empty group (generation kept, no protocol, no members)', () => {
    const empty: GroupMetadata = { groupId: 'g', protocolType: 'consumer', generation: 12, protocol: null, leader: null, members: [] };
    expect(decodeGroupMetadataValue(encodeGroupMetadataValue(empty, 5), 'g')).toEqual({ ...empty, currentStateTimestamp: 5 });
    // A group that never had a protocol type is written as '' and read back as none.
    const none: GroupMetadata = { ...empty, protocolType: null };
    expect(decodeGroupMetadataValue(encodeGroupMetadataValue(none, 5), 'g').protocolType).toBeNull();
  });

  it('reads version 0 with Kafka’s defaults for the fields it lacks', () => {
    const s = (v: string): number[] => [0, v.length, ...new TextEncoder().encode(v)];
    const b = (v: string): number[] => [0, 0, 0, v.length, ...new TextEncoder().encode(v)];
    const v0 = new Uint8Array([0, 0, ...s('consumer'), 0, 0, 0, 2, ...s('range'), ...s('m'), 0, 0, 0, 1, ...s('m'), ...s('c'), ...s('h'), 0, 0, 0x27, 0x10, ...b('{}'), ...b('')]);
    expect(decodeGroupMetadataValue(v0, 'g')).toEqual({
      groupId: 'g',
      protocolType: 'consumer',
      generation: 2,
      protocol: 'range',
      leader: 'm',
      currentStateTimestamp: -1,
      members: [{ memberId: 'm', groupInstanceId: null, clientId: 'c', clientHost: 'h', rebalanceTimeout: 10_000, sessionTimeout: 10_000, subscription: {}, assignment: null }],
    });
  });

  it('refuses truncated values, unknown versions and bad JSON', () => {
    const bytes = encodeGroupMetadataValue(STABLE, 0);
    expect(() => decodeGroupMetadataValue(bytes.subarray(0, bytes.length - 3), 'g')).toThrow(CorruptRecordError);
    const v9 = bytes.slice();
    v9[1] = 9;
    expect(() => decodeGroupMetadataValue(v9, 'g')).toThrow(CorruptRecordError);
    expect(() => decodeProtocolData(new TextEncoder().encode('{nope'))).toThrow(CorruptRecordError);
  });

  it('stores subscriptions and assignments as JSON, bigint- and byte-safe', () => {
    const data = { n: 1n, nested: [{ big: -42n }], bytes: new Uint8Array([16, 32]), s: 'x', nothing: null };
    expect(new TextDecoder().decode(encodeProtocolData(data))).toBe('{"n":{"$samsa.bigint":"1"},"nested":[{"big":{"$samsa.bigint":"-42"}}],"bytes":{"$samsa.bytes":"1020"},"s":"x","nothing":null}');
    expect(decodeProtocolData(encodeProtocolData(data))).toEqual(data);
    expect(decodeProtocolData(encodeProtocolData(undefined))).toBeNull();
    expect(decodeProtocolData(new Uint8Array(0))).toBeNull();
  });
});
