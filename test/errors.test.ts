import { describe, expect, it } from 'vitest';
import { errorFromJSON, InvalidConfigError, KAFKA_ERRORS, KafkaProtocolError, OffsetOutOfRangeError, ProducerFencedError, RebalanceInProgressError, SamsaError, TransactionAbortableError, TransactionStateError } from '../src/errors.ts';

describe('errors', () => {
  it('carries Kafka codes, names and retriability from one table', () => {
    const e = new KafkaProtocolError('NOT_ENOUGH_REPLICAS');
    expect(e).toBeInstanceOf(SamsaError);
    expect(e).toMatchObject({ name: 'KafkaProtocolError', code: 'NOT_ENOUGH_REPLICAS', errorCode: 19, retriable: true });
    expect(KAFKA_ERRORS.OFFSET_OUT_OF_RANGE.code).toBe(1);
    expect(KAFKA_ERRORS.PRODUCER_FENCED).toMatchObject({ code: 90, retriable: false });
    const codes = Object.values(KAFKA_ERRORS).map((i) => i.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('names the entity and the next step in messages', () => {
    const e = new OffsetOutOfRangeError(5n, 10n, 20n, 'partition orders-0');
    expect(e.message).toMatch(/offset 5 is out of range for partition orders-0 .*auto\.offset\.reset/);
    expect(new InvalidConfigError('retention.ms', 'abc', 'expected an integer').message).toBe('invalid value "abc" for config "retention.ms": expected an integer');
  });

  it('crosses actor boundaries as plain data and is rebuilt with its context', () => {
    const original = new OffsetOutOfRangeError(5n, 10n, 20n);
    const json = JSON.parse(JSON.stringify(original.toJSON()));
    const rebuilt = errorFromJSON(json);
    expect(rebuilt).toBeInstanceOf(KafkaProtocolError);
    expect(rebuilt).toMatchObject({ name: 'OffsetOutOfRangeError', code: 'OFFSET_OUT_OF_RANGE', retriable: false, message: original.message, logStartOffset: '10' });
    expect(KafkaProtocolError.isKafka(rebuilt, 'OFFSET_OUT_OF_RANGE')).toBe(true);
    const custom = errorFromJSON({ name: 'ClosedError', code: 'CLOSED', message: 'x is closed', retriable: false });
    expect(SamsaError.is(custom)).toBe(true);
    expect(custom.code).toBe('CLOSED');
    expect(SamsaError.is(new Error('plain'))).toBe(false);
  });

  it('gives each condition a caller handles differently its own class, also when it arrives as data', () => {
    const abortable = new TransactionAbortableError('app-1', 'a send failed');
    expect(abortable).toBeInstanceOf(KafkaProtocolError);
    expect(abortable).toMatchObject({ name: 'TransactionAbortableError', code: 'TRANSACTION_ABORTABLE', errorCode: 120, retriable: false, transactionalId: 'app-1' });
    const rebalancing = new RebalanceInProgressError('billing');
    expect(rebalancing).toMatchObject({ name: 'RebalanceInProgressError', code: 'REBALANCE_IN_PROGRESS', errorCode: 27, groupId: 'billing' });
    // A response's error code is rebuilt as the class, keeping its context.
    const rebuilt = errorFromJSON({ name: 'KafkaProtocolError', code: 'REBALANCE_IN_PROGRESS', message: 'rebalancing', retriable: false });
    expect(rebuilt).toBeInstanceOf(RebalanceInProgressError);
    expect(errorFromJSON(JSON.parse(JSON.stringify(abortable.toJSON())))).toMatchObject({ name: 'TransactionAbortableError', transactionalId: 'app-1', message: abortable.message });
    // The guards match the code whichever class carries it, and nothing else.
    expect(TransactionAbortableError.is(new KafkaProtocolError('TRANSACTION_ABORTABLE'))).toBe(true);
    expect(TransactionAbortableError.is(rebalancing)).toBe(false);
    expect(RebalanceInProgressError.is(new KafkaProtocolError('REBALANCE_IN_PROGRESS'))).toBe(true);
    expect(ProducerFencedError.is(new KafkaProtocolError('PRODUCER_FENCED'))).toBe(true);
    expect(ProducerFencedError.is(new KafkaProtocolError('INVALID_PRODUCER_EPOCH'))).toBe(true);
    expect(ProducerFencedError.is(abortable)).toBe(false);
    expect(TransactionStateError.is(new TransactionStateError('app-1', 'ready', 'commit', 'begin first'))).toBe(true);
    expect(TransactionStateError.is(abortable)).toBe(false);
  });
});
