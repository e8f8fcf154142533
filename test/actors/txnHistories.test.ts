import { describe, expect, it } from 'vitest';
import type { TxnAnomalies, TxnCheckResult } from '../helpers/txnHistories.ts';
import { allFindings, checkTxnHistory, compareWithOracle, describeStats, finalValues, indexTxnHistory, TxnHistoryError, TxnHistoryRecorder } from '../helpers/txnHistories.ts';

// The transactional checker must catch exactly what it claims to catch, and must refuse a history
// it cannot judge: otherwise a green simulation proves nothing.

const NONE: TxnAnomalies = {
  abortedReads: [],
  lostCommittedWrites: [],
  duplicates: [],
  inconsistentOffsets: [],
  tornTransactions: [],
  precommittedReads: [],
  nonMonotonicPolls: [],
  committedOffsetsRegression: [],
  finalGroupOffsets: [],
  unexpectedValues: [],
};

/** The findings of one check, after asserting every other check found nothing. */
function only(result: TxnCheckResult, check: keyof TxnAnomalies): string[] {
  expect({ ...result.anomalies, [check]: [] }).toEqual(NONE);
  return result.anomalies[check];
}

const r = (topic: string, partition: number, offset: bigint, value: string): { topic: string; partition: number; offset: bigint; value: string } => ({ topic, partition, offset, value });

/**
 * A committed transaction T1 over t-0 and t-1 ("a"@t-0@0, "b"@t-1@0, commit markers at 1) and an
 * aborted one T2 ("c"@t-0@2, abort marker at 3). Tests append events and then the final reads.
 */
function base(): TxnHistoryRecorder {
  const h = new TxnHistoryRecorder();
  h.begin('T1', 'p1');
  h.send({ producer: 'p1', txn: 'T1', key: 'k0', value: 'a', topic: 't', partition: 0 });
  h.send({ producer: 'p1', txn: 'T1', key: 'k1', value: 'b', topic: 't', partition: 1 });
  h.ack('a', 0n);
  h.ack('b', 0n);
  h.endInvoked('T1', 'commit');
  h.outcome('T1', 'committed');
  h.begin('T2', 'p2');
  h.send({ producer: 'p2', txn: 'T2', key: 'k0', value: 'c', topic: 't', partition: 0 });
  h.ack('c', 2n);
  h.endInvoked('T2', 'abort');
  h.outcome('T2', 'aborted');
  return h;
}

/** The final state of {@link base} alone, plus extra records per partition. */
function finish(h: TxnHistoryRecorder, extra: { t0?: Array<[bigint, string]>; t1?: Array<[bigint, string]> } = {}): TxnCheckResult {
  h.finalRead('t', 0, [{ offset: 0n, value: 'a' }, ...(extra.t0 ?? []).map(([offset, value]) => ({ offset, value }))]);
  h.finalRead('t', 1, [{ offset: 0n, value: 'b' }, ...(extra.t1 ?? []).map(([offset, value]) => ({ offset, value }))]);
  return checkTxnHistory(h.events);
}

/**
 * A clean run: interleaved committed and aborted transactions across two partitions, a
 * non-transactional write, a transaction whose producer crashed after invoking commit (it did
 * commit), one that never committed (the coordinator aborted it), markers leaving offset gaps,
 * read_committed and read_uncommitted consumers, a rebalance that rewinds a consumer, and a
 * consume-transform-produce pipeline with an aborted attempt that it retries after rewinding.
 */
function cleanRun(): TxnHistoryRecorder {
  const h = base();
  // T2 was aborted, but read_uncommitted may see its data; T1's commit markers sit at t-0@1 and t-1@1.
  h.poll({ consumer: 'ru', session: 0, isolation: 'read_uncommitted', records: [r('t', 0, 0n, 'a'), r('t', 0, 2n, 'c'), r('t', 1, 0n, 'b')] });
  h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 0n, 'a'), r('t', 1, 0n, 'b')] });
  h.send({ producer: 'p3', key: 'k9', value: 'e', topic: 't', partition: 0 });
  h.ack('e', 4n);
  // T3 and T4 interleave their writes on t-1 (G0 is allowed) and commit in the opposite order.
  h.begin('T3', 'p1');
  h.begin('T4', 'p2');
  h.send({ producer: 'p1', txn: 'T3', key: 'k0', value: 'f', topic: 't', partition: 0 });
  h.send({ producer: 'p1', txn: 'T3', key: 'k1', value: 'g', topic: 't', partition: 1 });
  h.send({ producer: 'p2', txn: 'T4', key: 'k1', value: 'h', topic: 't', partition: 1 });
  h.ack('f', 5n);
  h.ack('h', 4n);
  h.ack('g', 5n);
  h.endInvoked('T3', 'commit');
  h.endInvoked('T4', 'commit');
  h.outcome('T4', 'committed');
  h.outcome('T3', 'committed');
  // Markers: t-0@6, t-1@6 and t-1@7. The consumer jumps the aborted "c"@2 and the markers: gaps, not skips.
  h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 4n, 'e'), r('t', 0, 5n, 'f'), r('t', 1, 4n, 'h'), r('t', 1, 5n, 'g')] });
  // T5's producer crashes after invoking commit: fate unknown; the final state shows it committed.
  h.begin('T5', 'p2');
  h.send({ producer: 'p2', txn: 'T5', key: 'k0', value: 'i', topic: 't', partition: 0 });
  h.send({ producer: 'p2', txn: 'T5', key: 'k1', value: 'j', topic: 't', partition: 1 });
  h.ack('i', 7n);
  h.ack('j', 8n);
  h.endInvoked('T5', 'commit');
  // T6's producer is fenced before committing: the coordinator aborts it (marker t-1@11).
  h.begin('T6', 'p4');
  h.send({ producer: 'p4', txn: 'T6', key: 'k1', value: 'k', topic: 't', partition: 1 });
  h.ack('k', 10n);
  h.outcome('T6', 'unknown');
  // A rebalance: session 1 starts over from the committed offsets, re-reading is allowed.
  h.poll({ consumer: 'rc', session: 1, isolation: 'read_committed', records: [r('t', 0, 4n, 'e'), r('t', 0, 5n, 'f'), r('t', 0, 7n, 'i'), r('t', 1, 4n, 'h'), r('t', 1, 5n, 'g'), r('t', 1, 8n, 'j')] });

  // The pipeline: read t, write out(v) to out-0, commit its input offsets in the same transaction.
  h.begin('P1', 'pipe');
  h.poll({ consumer: 'pipe', session: 0, isolation: 'read_committed', txn: 'P1', records: [r('t', 0, 0n, 'a'), r('t', 1, 0n, 'b')] });
  h.send({ producer: 'pipe', txn: 'P1', key: 'k0', value: 'out(a)@P1', topic: 'out', partition: 0 });
  h.send({ producer: 'pipe', txn: 'P1', key: 'k1', value: 'out(b)@P1', topic: 'out', partition: 0 });
  h.ack('out(a)@P1', 0n);
  h.ack('out(b)@P1', 1n);
  h.sendOffsets('P1', 'g', [{ topic: 't', partition: 0, offset: 1n }, { topic: 't', partition: 1, offset: 1n }]);
  h.endInvoked('P1', 'commit');
  h.outcome('P1', 'committed');
  h.begin('P2', 'pipe');
  h.poll({ consumer: 'pipe', session: 0, isolation: 'read_committed', txn: 'P2', records: [r('t', 0, 4n, 'e'), r('t', 0, 5n, 'f'), r('t', 1, 4n, 'h'), r('t', 1, 5n, 'g')] });
  for (const [n, v] of ['e', 'f', 'h', 'g'].entries()) {
    h.send({ producer: 'pipe', txn: 'P2', key: 'k', value: `out(${v})@P2`, topic: 'out', partition: 0 });
    h.ack(`out(${v})@P2`, BigInt(3 + n));
  }
  h.sendOffsets('P2', 'g', [{ topic: 't', partition: 0, offset: 6n }, { topic: 't', partition: 1, offset: 6n }]);
  h.endInvoked('P2', 'commit');
  h.outcome('P2', 'committed');
  // P3 aborts; the pipeline rewinds to its committed offsets (a new session) and P4 redoes the work.
  h.begin('P3', 'pipe');
  h.poll({ consumer: 'pipe', session: 0, isolation: 'read_committed', txn: 'P3', records: [r('t', 0, 7n, 'i'), r('t', 1, 8n, 'j')] });
  h.send({ producer: 'pipe', txn: 'P3', key: 'k0', value: 'out(i)@P3', topic: 'out', partition: 0 });
  h.ack('out(i)@P3', 8n);
  h.sendOffsets('P3', 'g', [{ topic: 't', partition: 0, offset: 8n }]);
  h.endInvoked('P3', 'abort');
  h.outcome('P3', 'aborted');
  h.begin('P4', 'pipe');
  h.poll({ consumer: 'pipe', session: 1, isolation: 'read_committed', txn: 'P4', records: [r('t', 0, 7n, 'i'), r('t', 1, 8n, 'j')] });
  h.send({ producer: 'pipe', txn: 'P4', key: 'k0', value: 'out(i)@P4', topic: 'out', partition: 0 });
  h.send({ producer: 'pipe', txn: 'P4', key: 'k1', value: 'out(j)@P4', topic: 'out', partition: 0 });
  h.ack('out(i)@P4', 10n);
  h.ack('out(j)@P4', 11n);
  h.sendOffsets('P4', 'g', [{ topic: 't', partition: 0, offset: 8n }, { topic: 't', partition: 1, offset: 9n }]);
  h.endInvoked('P4', 'commit');
  h.outcome('P4', 'committed');
  const outputs = ['out(a)@P1', 'out(b)@P1', 'out(e)@P2', 'out(f)@P2', 'out(h)@P2', 'out(g)@P2', 'out(i)@P4', 'out(j)@P4'];
  const outOffsets = [0n, 1n, 3n, 4n, 5n, 6n, 10n, 11n];
  h.poll({ consumer: 'sink', session: 0, isolation: 'read_committed', records: outputs.map((v, n) => r('out', 0, outOffsets[n] as bigint, v)) });

  h.finalRead('t', 0, [{ offset: 0n, value: 'a' }, { offset: 4n, value: 'e' }, { offset: 5n, value: 'f' }, { offset: 7n, value: 'i' }]);
  h.finalRead('t', 1, [{ offset: 0n, value: 'b' }, { offset: 4n, value: 'h' }, { offset: 5n, value: 'g' }, { offset: 8n, value: 'j' }]);
  h.finalRead('out', 0, outputs.map((value, n) => ({ offset: outOffsets[n] as bigint, value })));
  h.finalOffsets('g', [{ topic: 't', partition: 0, offset: 8n }, { topic: 't', partition: 1, offset: 9n }]);
  return h;
}

const normalize = (v: string): string => v.replace(/@.*$/, '');
const transform = (v: string): string[] => [`out(${v})`];

describe('transactional history checker: a clean run', () => {
  it('reports nothing, sees everything, and exercised every check', () => {
    const result = checkTxnHistory(cleanRun().events);
    const summary = describeStats(result.stats);
    expect(result.anomalies, summary).toEqual(NONE);
    expect(allFindings(result.anomalies)).toEqual([]);
    expect(result.unseen, summary).toEqual([]);
    expect(result.vacuous, summary).toEqual([]);
    expect(result.stats.outcomes).toEqual({ committed: 6, aborted: 2, unknown: 2 });
    expect(result.stats.fates).toEqual({ committed: 7, aborted: 3, torn: 0, undetermined: 0 });
    expect(result.index.txns.get('T5')?.fate).toBe('committed');
    expect(result.index.txns.get('T6')?.fate).toBe('aborted');
  });

  it('matches the oracle of the exactly-once pipeline', () => {
    const ix = indexTxnHistory(cleanRun().events);
    expect(finalValues(ix, 't')).toEqual(['a', 'e', 'f', 'i', 'b', 'h', 'g', 'j']);
    expect(compareWithOracle(ix, { inputs: finalValues(ix, 't'), outputTopic: 'out', expected: transform, normalize })).toEqual({ missing: [], duplicated: [], unexpected: [] });
  });
});

describe('transactional history checker: each anomaly alone', () => {
  it('abortedReads: read_committed reads an aborted transaction', () => {
    const h = base();
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 2n, 'c')] });
    const found = only(finish(h), 'abortedReads');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^G1a: consumer rc \(session 0, read_committed, poll #\d+\) read "c" at t-0@2, written by transaction T2 \(producer p2\), which aborted$/);
  });

  it('abortedReads: the final state holds a transaction whose commit was never invoked', () => {
    const h = base();
    h.begin('T3', 'p3');
    h.send({ producer: 'p3', txn: 'T3', key: 'k', value: 'z', topic: 't', partition: 0 });
    h.ack('z', 4n);
    h.outcome('T3', 'unknown');
    const found = only(finish(h, { t0: [[4n, 'z']] }), 'abortedReads');
    expect(found).toEqual([expect.stringMatching(/the final read .* read "z" at t-0@4, written by transaction T3 .* never invoked commit/)]);
  });

  it('abortedReads: any consumer reads a send that failed definitely; read_uncommitted may read aborted data', () => {
    const h = base();
    h.send({ producer: 'p3', key: 'k', value: 'x', topic: 't', partition: 0 });
    h.sendFailed('x', true);
    h.poll({ consumer: 'ru', session: 0, isolation: 'read_uncommitted', records: [r('t', 0, 2n, 'c'), r('t', 0, 4n, 'x')] });
    const found = only(finish(h), 'abortedReads');
    expect(found).toEqual([expect.stringMatching(/read_uncommitted.* read "x" at t-0@4, whose send \(#\d+\) failed definitely/)]);
  });

  it('lostCommittedWrites: a committed write, an acknowledged write and a read write are missing at the end', () => {
    const h = base();
    h.begin('T3', 'p1');
    h.send({ producer: 'p1', txn: 'T3', key: 'k', value: 'z', topic: 't', partition: 1 });
    h.ack('z', 2n);
    h.endInvoked('T3', 'commit');
    h.outcome('T3', 'committed');
    h.send({ producer: 'p3', key: 'k', value: 'y', topic: 't', partition: 0 });
    h.ack('y', 4n);
    // Never acknowledged (the ack was lost), but a consumer read it, so it was committed to the log.
    h.send({ producer: 'p3', key: 'k', value: 'w', topic: 't', partition: 0 });
    h.sendFailed('w', false);
    h.poll({ consumer: 'ru', session: 0, isolation: 'read_uncommitted', records: [r('t', 0, 5n, 'w')] });
    const found = only(finish(h), 'lostCommittedWrites');
    expect(found).toEqual([
      expect.stringMatching(/^lost: "z" \(sent #\d+, written by committed transaction T3\) is missing from the final state of t-1 \(which holds offsets 0..0\)$/),
      expect.stringMatching(/^lost: "y" \(sent #\d+, acknowledged at t-0@4 \(#\d+\)\) is missing from the final state of t-0/),
      expect.stringMatching(/^lost: "w" \(sent #\d+, non-transactional, read by consumer ru/),
    ]);
  });

  it('duplicates: one value at two offsets', () => {
    const h = base();
    const found = only(finish(h, { t0: [[4n, 'a']] }), 'duplicates');
    expect(found).toEqual([expect.stringMatching(/^duplicate: "a" at t-0@0 \(ack #\d+, final read #\d+\) and t-0@4 \(final read #\d+\)$/)]);
  });

  it('inconsistentOffsets: two values at one offset', () => {
    const h = base();
    h.begin('T3', 'p3');
    h.send({ producer: 'p3', txn: 'T3', key: 'k', value: 'v', topic: 't', partition: 0 });
    h.sendFailed('v', false);
    h.endInvoked('T3', 'abort');
    h.outcome('T3', 'aborted');
    h.poll({ consumer: 'ru', session: 0, isolation: 'read_uncommitted', records: [r('t', 0, 2n, 'v')] });
    const found = only(finish(h), 'inconsistentOffsets');
    expect(found).toEqual([expect.stringMatching(/^inconsistent offset: t-0@2 holds "c" \(ack #\d+\) and "v" \(poll #\d+\)$/)]);
  });

  it('tornTransactions: a transaction of unknown fate is half visible', () => {
    const h = base();
    h.begin('T3', 'p3');
    h.send({ producer: 'p3', txn: 'T3', key: 'k0', value: 'm', topic: 't', partition: 0 });
    h.send({ producer: 'p3', txn: 'T3', key: 'k1', value: 'n', topic: 't', partition: 1 });
    h.ack('m', 4n);
    h.ack('n', 2n);
    h.endInvoked('T3', 'commit');
    h.outcome('T3', 'unknown');
    const result = finish(h, { t0: [[4n, 'm']] });
    expect(only(result, 'tornTransactions')).toEqual(['torn: transaction T3 (producer p3, outcome unknown) has 1 of 2 writes in the final state: visible "m" (t-0); missing "n" (t-1)']);
    expect(result.index.txns.get('T3')?.fate).toBe('torn');
  });

  it('tornTransactions: a committed transaction half visible is also a lost write', () => {
    const h = base();
    const result = checkTxnHistory([...h.events, { type: 'finalRead', topic: 't', partition: 0, records: [{ offset: 0n, value: 'a' }] }, { type: 'finalRead', topic: 't', partition: 1, records: [] }]);
    expect(result.anomalies.tornTransactions).toEqual([expect.stringContaining('transaction T1 (producer p1, outcome committed) has 1 of 2 writes')]);
    expect(result.anomalies.lostCommittedWrites).toEqual([expect.stringContaining('"b"')]);
    expect(result.anomalies.abortedReads).toEqual([]);
  });

  it('precommittedReads: a pipeline reads its own uncommitted output', () => {
    const h = base();
    h.begin('P1', 'pipe');
    h.send({ producer: 'pipe', txn: 'P1', key: 'k', value: 'o', topic: 'out', partition: 0 });
    h.ack('o', 0n);
    h.poll({ consumer: 'pipe', session: 0, isolation: 'read_committed', txn: 'P1', records: [r('out', 0, 0n, 'o')] });
    h.endInvoked('P1', 'commit');
    h.outcome('P1', 'committed');
    h.finalRead('out', 0, [{ offset: 0n, value: 'o' }]);
    const found = only(finish(h), 'precommittedReads');
    expect(found).toEqual([expect.stringMatching(/^precommitted read: transaction P1 read its own write "o" at out-0@0 \(consumer pipe \(session 0, read_committed, in transaction P1, poll #\d+\)\)$/)]);
  });

  it('precommittedReads: read_committed sees a transaction before its commit was invoked', () => {
    const h = base();
    h.begin('T3', 'p3');
    h.send({ producer: 'p3', txn: 'T3', key: 'k', value: 'q', topic: 't', partition: 0 });
    h.ack('q', 4n);
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 4n, 'q')] });
    const commitAt = h.endInvoked('T3', 'commit');
    h.outcome('T3', 'committed');
    const found = only(finish(h, { t0: [[4n, 'q']] }), 'precommittedReads');
    expect(found).toEqual([expect.stringMatching(new RegExp(`read "q" at t-0@4 of transaction T3, whose commit was invoked only at #${commitAt}$`))]);
  });

  it('nonMonotonicPolls: a session goes back', () => {
    const h = base();
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 0n, 'a')] });
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 0n, 'a')] });
    // The same move after a rebalance is allowed.
    h.poll({ consumer: 'rc', session: 1, isolation: 'read_committed', records: [r('t', 0, 0n, 'a')] });
    const found = only(finish(h), 'nonMonotonicPolls');
    expect(found).toEqual([expect.stringMatching(/^nonmonotonic poll: consumer rc \(session 0, .*\) read t-0@0 \("a"\) after t-0@0 \("a", poll #\d+\) in the same session$/)]);
  });

  it('nonMonotonicPolls: a session skips a record of the final state, but not an aborted record or a marker', () => {
    const h = base();
    h.send({ producer: 'p3', key: 'k', value: 'e', topic: 't', partition: 0 });
    h.ack('e', 4n);
    h.send({ producer: 'p3', key: 'k', value: 'f', topic: 't', partition: 0 });
    h.ack('f', 5n);
    // rc: a@0 → e@4 jumps T1's marker and T2's aborted "c" (gaps, allowed), then e@4 → f@5.
    // rc2: a@0 → f@5 jumps "e"@4, which the final state holds: a skip.
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 0n, 'a'), r('t', 0, 4n, 'e')] });
    h.poll({ consumer: 'rc2', session: 0, isolation: 'read_committed', records: [r('t', 0, 0n, 'a')] });
    h.poll({ consumer: 'rc2', session: 0, isolation: 'read_committed', records: [r('t', 0, 5n, 'f')] });
    h.poll({ consumer: 'rc', session: 0, isolation: 'read_committed', records: [r('t', 0, 5n, 'f')] });
    const found = only(finish(h, { t0: [[4n, 'e'], [5n, 'f']] }), 'nonMonotonicPolls');
    expect(found).toEqual([expect.stringMatching(/^poll skip: consumer rc2 \(session 0, .*\) read t-0@5 \("f"\) right after t-0@0 \("a", poll #\d+\), skipping "e"@4 of the final state$/)]);
  });

  it('committedOffsetsRegression: a later committed transaction commits a lower offset; overlapping commits are not ordered', () => {
    const h = base();
    const txn = (id: string, offset: bigint): void => {
      h.begin(id, 'pipe');
      h.sendOffsets(id, 'g', [{ topic: 't', partition: 0, offset }]);
    };
    txn('P1', 5n);
    h.endInvoked('P1', 'commit');
    h.outcome('P1', 'committed');
    txn('P2', 3n);
    h.endInvoked('P2', 'commit');
    h.outcome('P2', 'committed');
    // Overlapping commits of another group: either order is possible, so no judgement.
    h.begin('Q1', 'q');
    h.sendOffsets('Q1', 'g2', [{ topic: 't', partition: 0, offset: 9n }]);
    h.begin('Q2', 'q2');
    h.sendOffsets('Q2', 'g2', [{ topic: 't', partition: 0, offset: 7n }]);
    h.endInvoked('Q1', 'commit');
    h.endInvoked('Q2', 'commit');
    h.outcome('Q1', 'committed');
    h.outcome('Q2', 'committed');
    const found = only(finish(h), 'committedOffsetsRegression');
    expect(found).toEqual([expect.stringMatching(/^offsets regression: group g\/t-0: transaction P2 \(commit invoked #\d+\) committed offset 3 after transaction P1 committed 5 \(resolved #\d+\)$/)]);
  });

  it('finalGroupOffsets: an aborted transaction\'s offsets took effect, a committed one\'s vanished', () => {
    const h = base();
    h.begin('P1', 'pipe');
    h.sendOffsets('P1', 'g', [{ topic: 't', partition: 0, offset: 1n }, { topic: 't', partition: 1, offset: 1n }]);
    h.endInvoked('P1', 'commit');
    h.outcome('P1', 'committed');
    h.begin('P2', 'pipe');
    h.sendOffsets('P2', 'g', [{ topic: 't', partition: 0, offset: 3n }]);
    h.endInvoked('P2', 'abort');
    h.outcome('P2', 'aborted');
    h.finalOffsets('g', [{ topic: 't', partition: 0, offset: 3n }]);
    const found = only(finish(h), 'finalGroupOffsets');
    expect(found).toEqual([
      expect.stringMatching(/^final offsets: group g\/t-0 ends at offset 3 \(carried only by aborted transaction\(s\), e\.g\. sendOffsets #\d+\), expected offset 1 \(committed by transaction P1\)$/),
      'final offsets: group g/t-1 ends at no offset, expected offset 1 (committed by transaction P1)',
    ]);
  });

  it('unexpectedValues: a value never sent, or read in another partition', () => {
    const h = base();
    h.send({ producer: 'p3', key: 'k', value: 'u', topic: 't', partition: 0 });
    h.sendFailed('u', false);
    h.poll({ consumer: 'ru', session: 0, isolation: 'read_uncommitted', records: [r('t', 0, 9n, 'ghost')] });
    const found = only(finish(h, { t1: [[3n, 'u']] }), 'unexpectedValues');
    expect(found).toEqual([
      expect.stringMatching(/^unexpected value: consumer ru .* read "ghost" at t-0@9, which was never sent$/),
      expect.stringMatching(/^unexpected value: the final read #\d+ read "u" at t-1@3, but it was sent to t-0$/),
    ]);
  });

  it('unseen: committed acknowledged writes no poll returned are reported apart', () => {
    const result = finish(base());
    expect(result.anomalies).toEqual(NONE);
    expect(result.unseen).toEqual([
      'unseen: "a" acknowledged at t-0@0 (transaction T1) was never returned by a poll',
      'unseen: "b" acknowledged at t-1@0 (transaction T1) was never returned by a poll',
    ]);
  });
});

describe('transactional history checker: no vacuous pass', () => {
  it('rejects a history without a final state', () => {
    expect(() => checkTxnHistory(base().events)).toThrow(TxnHistoryError);
    expect(() => checkTxnHistory(base().events)).toThrow(/no final read/);
  });

  it('rejects a final state missing a written partition', () => {
    const h = base();
    h.finalRead('t', 0, [{ offset: 0n, value: 'a' }]);
    expect(() => checkTxnHistory(h.events)).toThrow(/"b" was sent to t-1 .* which has no final read/);
  });

  it('rejects a history without writes', () => {
    expect(() => checkTxnHistory([{ type: 'finalRead', topic: 't', partition: 0, records: [] }])).toThrow(/no writes/);
  });

  it('rejects malformed histories', () => {
    const cases: Array<[(h: TxnHistoryRecorder) => void, RegExp]> = [
      [(h) => h.send({ producer: 'p', key: 'k', value: 'a', topic: 't', partition: 0 }), /value "a" sent twice/],
      [(h) => h.send({ producer: 'p', txn: 'nope', key: 'k', value: 'z', topic: 't', partition: 0 }), /transaction nope, which never began/],
      [(h) => h.send({ producer: 'p1', txn: 'T1', key: 'k', value: 'z', topic: 't', partition: 0 }), /after its end was invoked/],
      [(h) => h.ack('ghost', 1n), /never sent/],
      [(h) => h.ack('a', 7n), /completed twice/],
      [(h) => h.begin('T1', 'p1'), /began twice/],
      [(h) => { h.begin('T9', 'p'); h.outcome('T9', 'committed'); }, /no commit was invoked/],
      [(h) => h.outcome('T1', 'aborted'), /recorded twice/],
      [(h) => { h.finalRead('t', 0, []); h.send({ producer: 'p', key: 'k', value: 'late', topic: 't', partition: 0 }); }, /after the final reads began/],
    ];
    for (const [mutate, error] of cases) {
      const h = base();
      mutate(h);
      h.finalRead('t', 5, []);
      expect(() => indexTxnHistory(h.events)).toThrow(error);
    }
  });

  it('names the checks a thin history did not exercise', () => {
    const h = new TxnHistoryRecorder();
    h.send({ producer: 'p', key: 'k', value: 'a', topic: 't', partition: 0 });
    h.ack('a', 0n);
    h.finalRead('t', 0, [{ offset: 0n, value: 'a' }]);
    const result = checkTxnHistory(h.events);
    expect(result.anomalies).toEqual(NONE);
    expect(result.vacuous.map((v) => v.split(':')[0])).toEqual(['abortedReads', 'tornTransactions', 'precommittedReads', 'nonMonotonicPolls', 'committedOffsetsRegression', 'finalGroupOffsets', 'unexpectedValues']);
  });
});

describe('exactly-once oracle', () => {
  /** Input "a" was processed twice (P1's offsets were lost, P2 redid it); input "b" never was. */
  function pipelineRun(): TxnHistoryRecorder {
    const h = base();
    for (const p of ['P1', 'P2']) {
      h.begin(p, 'pipe');
      h.send({ producer: 'pipe', txn: p, key: 'k', value: `out(a)@${p}`, topic: 'out', partition: 0 });
      h.endInvoked(p, 'commit');
      h.outcome(p, 'committed');
    }
    h.send({ producer: 'x', key: 'k', value: 'out(zz)', topic: 'out', partition: 1 });
    h.finalRead('t', 0, [{ offset: 0n, value: 'a' }]);
    h.finalRead('t', 1, [{ offset: 0n, value: 'b' }]);
    h.finalRead('out', 0, [{ offset: 0n, value: 'out(a)@P1' }, { offset: 2n, value: 'out(a)@P2' }]);
    h.finalRead('out', 1, [{ offset: 0n, value: 'out(zz)' }]);
    return h;
  }

  it('reports missing, duplicated and unexpected outputs', () => {
    const ix = indexTxnHistory(pipelineRun().events);
    expect(compareWithOracle(ix, { inputs: finalValues(ix, 't'), outputTopic: 'out', expected: transform, normalize })).toEqual({
      missing: ['missing output: "out(b)" expected 1 time(s) (from input "b") but found 0 in the final state of out'],
      duplicated: ['duplicated output: "out(a)" expected 1 time(s) (from input "a") but found 2 at out-0@0 ("out(a)@P1"), out-0@2 ("out(a)@P2")'],
      unexpected: ['unexpected output: "out(zz)" at out-1@0 is no output of any input'],
    });
  });

  it('refuses to compare without inputs or without a final read of the output topic', () => {
    const ix = indexTxnHistory(pipelineRun().events);
    expect(() => compareWithOracle(ix, { inputs: [], outputTopic: 'out', expected: transform })).toThrow(/no inputs/);
    expect(() => compareWithOracle(ix, { inputs: ['a'], outputTopic: 'elsewhere', expected: transform })).toThrow(/elsewhere has no final read/);
  });
});
