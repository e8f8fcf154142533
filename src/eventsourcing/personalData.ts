/**
 * Crypto-shredding of personal data: the data of an event that names a subject (a person, a
 * customer) is encrypted with that subject's own key (AES-256-GCM), and the keys live in a
 * compacted topic keyed by subject. `shred(subject)` writes the subject's tombstone: from then on
 * every read gives those events without their data (`shredded: true`), while the events stay in
 * their streams, in order, with their types and metadata. A subject gets one key, created once
 * (a conditional append: two stores creating it at the same time agree on the first), and a
 * shredded subject takes no new events.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { InvalidArgumentError, KafkaProtocolError } from '../errors.ts';
import type { AdminClient, ProducerClient } from '../clients/api.ts';
import { EXPECTED_VERSION_HEADER, encodeCondition } from '../record/keyVersions.ts';

/** Header naming the subject whose key encrypted an event's data. */
export const SUBJECT_HEADER = 'samsa.subject';

/** How a store finds the subject of an event (undefined: the event holds no personal data). */
export interface PersonalDataOptions {
  readonly subjectOf: (event: { readonly type: string; readonly data: unknown }, streamId: string) => string | undefined;
  /** The compacted topic of the subjects' keys (default `samsa.subject-keys`). */
  readonly keysTopic?: string;
}

const encoder = new TextEncoder();

/** Encrypts `plain` with `key`: iv (12 bytes), ciphertext, tag (16 bytes). */
export function encrypt(key: Uint8Array, plain: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

/** Decrypts what {@link encrypt} wrote. @throws when the bytes or the key are not the ones written. */
export function decrypt(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return new Uint8Array(Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]));
}

/** The subjects' keys, read from and created in the keys topic. */
export class SubjectKeys {
  /** Keys this store created or read, kept for writing only (reads always ask the topic, so a shred elsewhere is seen). */
  private readonly writing = new Map<string, Uint8Array>();
  readonly topic: string;

  constructor(
    private readonly admin: AdminClient,
    private readonly producer: Pick<ProducerClient, 'send'>,
    private readonly ensureTopic: (topic: string) => Promise<void>,
    keysTopic: string | undefined,
  ) {
    this.topic = keysTopic ?? 'samsa.subject-keys';
  }

  /** The key to encrypt `subject`'s data with: created on first use. @throws InvalidArgumentError for a shredded subject. */
  async keyFor(subject: string): Promise<Uint8Array> {
    if (typeof subject !== 'string' || subject.length === 0) throw new InvalidArgumentError('subject', `expected a non-empty subject id, got ${JSON.stringify(subject)}`);
    const known = this.writing.get(subject);
    if (known !== undefined) return known;
    await this.ensureTopic(this.topic);
    for (let attempt = 0; ; attempt++) {
      const found = await this.read(subject);
      if (found === null) throw new InvalidArgumentError('subject', `subject "${subject}" was shredded; its data can no longer be written or read`);
      if (found !== undefined) {
        this.writing.set(subject, found);
        return found;
      }
      const key = new Uint8Array(randomBytes(32));
      try {
        // Only the first key of a subject is written: a second store creating one at the same time loses and reads the winner's.
        await this.producer.send(this.topic, { key: encoder.encode(subject), value: key, headers: { [EXPECTED_VERSION_HEADER]: encodeCondition({ kind: 'noStream' }) } }, { atomic: true });
        this.writing.set(subject, key);
        return key;
      } catch (e) {
        if (!KafkaProtocolError.isKafka(e, 'WRONG_EXPECTED_VERSION') || attempt > 2) throw e;
      }
    }
  }

  /** The keys of `subjects`: a key, or null for a shredded (or unknown) subject. */
  async keysOf(subjects: Iterable<string>): Promise<Map<string, Uint8Array | null>> {
    const out = new Map<string, Uint8Array | null>();
    await Promise.all([...new Set(subjects)].map(async (s) => out.set(s, (await this.read(s)) ?? null)));
    return out;
  }

  /** Shreds `subject`: its key is replaced by a tombstone, so its events' data is unreadable from now on. */
  async shred(subject: string): Promise<void> {
    if (typeof subject !== 'string' || subject.length === 0) throw new InvalidArgumentError('subject', `expected a non-empty subject id, got ${JSON.stringify(subject)}`);
    await this.ensureTopic(this.topic);
    this.writing.delete(subject);
    await this.producer.send(this.topic, { key: encoder.encode(subject), value: null });
  }

  /** The subject's latest key record: its key, null once shredded, undefined when it has none. */
  private async read(subject: string): Promise<Uint8Array | null | undefined> {
    try {
      const read = await this.admin.readKey(this.topic, encoder.encode(subject), { direction: 'backwards', maxCount: 1 });
      const latest = read.records[0];
      return latest === undefined ? undefined : latest.value;
    } catch (e) {
      if (KafkaProtocolError.isKafka(e, 'UNKNOWN_TOPIC_OR_PARTITION')) return undefined;
      throw e;
    }
  }
}

/** A record as the readers see it (value and headers). */
interface SealedRecord {
  readonly value: Uint8Array | null;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }>;
}

/**
 * Records with their data decrypted: a record naming a subject gets its plain value back, or
 * `shredded: true` and no value when the subject's key is gone. Records without a subject pass as they are.
 */
export async function unsealRecords<R extends SealedRecord>(keys: SubjectKeys, records: readonly R[]): Promise<Array<R & { readonly shredded?: boolean }>> {
  const decoder = new TextDecoder();
  const subjectOf = (r: SealedRecord): string | undefined => {
    const h = r.headers.find((x) => x.key === SUBJECT_HEADER);
    return h?.value === null || h === undefined ? undefined : decoder.decode(h.value);
  };
  const subjects = records.map(subjectOf);
  if (subjects.every((s) => s === undefined)) return [...records];
  const found = await keys.keysOf(subjects.filter((s): s is string => s !== undefined));
  return records.map((r, i) => {
    const subject = subjects[i];
    if (subject === undefined || r.value === null) return r;
    const key = found.get(subject);
    if (key === null || key === undefined) return { ...r, value: null, shredded: true };
    try {
      return { ...r, value: decrypt(key, r.value) };
    } catch {
      return { ...r, value: null, shredded: true };
    }
  });
}
