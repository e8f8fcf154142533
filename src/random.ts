/**
 * Seeded randomness. samsa never calls `Math.random`; every random choice (sticky partition,
 * simulated network delivery order, member ids) draws from a {@link Random} so a seed replays a run.
 */

/** A deterministic pseudo-random source. */
export interface Random {
  /** The seed this source was created with. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A new array with the items in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** An independent source derived from this one, so sub-systems do not perturb each other. */
  fork(): Random;
}

/** Creates a seeded source (sfc32 generator). The same seed always yields the same sequence. */
export function createRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
  let d = seed >>> 0;
  const nextU32 = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) nextU32();
  const random: Random = {
    seed,
    next: () => nextU32() / 4294967296,
    int(maxExclusive) {
      if (!Number.isInteger(maxExclusive) || maxExclusive <= 0) throw new RangeError(`Random.int needs a positive integer bound, got ${maxExclusive}`);
      return Math.floor(random.next() * maxExclusive);
    },
    pick(items) {
      if (items.length === 0) throw new RangeError('Random.pick needs a non-empty array');
      return items[random.int(items.length)] as (typeof items)[number];
    },
    shuffle(items) {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        const tmp = out[i] as (typeof out)[number];
        out[i] = out[j] as (typeof out)[number];
        out[j] = tmp;
      }
      return out;
    },
    fork: () => createRandom(nextU32()),
  };
  return random;
}

/** A fresh seed from the operating system's entropy, for runs that do not ask for one. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}
